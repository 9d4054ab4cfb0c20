/** Instance metadata (IMDSv2, hop limit) and boot configuration (user data) of EC2 instances and launch templates. */
import * as aws from "@pulumi/aws";
import { ResourceValidationPolicy } from "@pulumi/policy";
import { secretLikeMatches } from "../lib/secret-scan";
import { onResource, onType } from "../lib/rule";
import { Deferrals } from "../lib/unknowns";
import { dockerRuns, userDataOf, UserDataText } from "../lib/userdata";
import { UNKNOWN } from "../lib/util";

interface HopConfig { instanceHopLimit: number; containerHostHopLimit: number; launchTemplateHopLimit: number; nodeClassHopLimit: number; containerHostTags: string[] }
const HOP_DEFAULTS: HopConfig = { instanceHopLimit: 1, containerHostHopLimit: 2, launchTemplateHopLimit: 1, nodeClassHopLimit: 1, containerHostTags: ["researcher"] };

const INSTANCE = "aws:ec2/instance:Instance";
const LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate";

/**
 * The readable user-data texts of a resource; one that cannot be decoded is reported (a rule must not
 * pass what it cannot read). UNKNOWN (recorded in `d`) or [] when there is nothing to judge.
 */
function readable(d: Deferrals, type: string, props: any, report: (m: string) => void, what: string): string[] | typeof UNKNOWN {
    const uds = userDataOf(d, type, props);
    if (uds === UNKNOWN) return UNKNOWN;
    const out: string[] = [];
    for (const u of (uds ?? []) as UserDataText[]) {
        if ("error" in u) report(`${what} ${u.path} ${u.error}, so the pack cannot check it; give cloud-init text, or gzip it and base64-encode it into userDataBase64.`);
        else out.push(u.text);
    }
    return out;
}

export const ec2Policies: ResourceValidationPolicy[] = [
    {
        name: "ec2-imdsv2-required",
        description: "Checks whether EC2 instances and launch templates require IMDSv2 session tokens.",
        enforcementLevel: "mandatory",
        validateResource: [
            onResource(aws.ec2.Instance, "EC2 instance", (i, args, report) => {
                if (i.metadataOptions?.httpTokens !== "required") report(`EC2 instance '${args.name}' must set metadataOptions.httpTokens: "required" (IMDSv2).`);
            }),
            onResource(aws.ec2.LaunchTemplate, "Launch template", (lt, args, report) => {
                if (lt.metadataOptions?.httpTokens !== "required") report(`Launch template '${args.name}' must set metadataOptions.httpTokens: "required" (IMDSv2).`);
            }),
        ],
    },
    {
        name: "ec2-imds-hop-limit",
        description: "Checks whether the IMDS response hop limit is exactly what the design needs: 2 on container hosts (workstations), 1 on every other instance, launch template and Karpenter EC2NodeClass.",
        enforcementLevel: "mandatory",
        configSchema: {
            properties: {
                instanceHopLimit: { type: "number", default: HOP_DEFAULTS.instanceHopLimit, description: "EC2 instances that run no containers." },
                containerHostHopLimit: { type: "number", default: HOP_DEFAULTS.containerHostHopLimit, description: "Instances whose containers on the docker bridge use the instance role (one extra hop)." },
                launchTemplateHopLimit: { type: "number", default: HOP_DEFAULTS.launchTemplateHopLimit, description: "EKS node launch templates: pods use Pod Identity, never the node role." },
                nodeClassHopLimit: { type: "number", default: HOP_DEFAULTS.nodeClassHopLimit, description: "Karpenter EC2NodeClasses." },
                containerHostTags: { type: "array", items: { type: "string" }, default: HOP_DEFAULTS.containerHostTags, description: "Tag keys that mark an instance as a container host (a researcher's workstation)." },
            },
        },
        validateResource: [
            onResource(aws.ec2.Instance, "EC2 instance", (i, args, report, d) => {
                const c = { ...HOP_DEFAULTS, ...args.getConfig<Partial<HopConfig>>() };
                const hop = i.metadataOptions?.httpPutResponseHopLimit;
                const tags = d.copy("tags", () => i.tags) as Record<string, unknown> | undefined | typeof UNKNOWN;
                if (tags === UNKNOWN) return;
                let host = c.containerHostTags.some((t) => tags !== undefined && t in tags);
                if (!host) {
                    // Whether it runs containers is decided by its user data (userData or userDataBase64).
                    const texts = readable(d, INSTANCE, i, (m) => report(m), `EC2 instance '${args.name}'`);
                    if (texts === UNKNOWN) return;
                    host = texts.some((t) => dockerRuns(t).length > 0);
                }
                const want = host ? c.containerHostHopLimit : c.instanceHopLimit;
                if (hop !== want) {
                    const why = host ? "it runs containers on the docker bridge, which reach IMDS one hop away" : "nothing on it needs IMDS beyond the host; a larger limit lets containers or forwarded traffic reach the role's credentials";
                    report(`EC2 instance '${args.name}' must set metadataOptions.httpPutResponseHopLimit: ${want} (found ${hop ?? "unset: the AMI default, 2 on AL2023"}): ${why}.`);
                }
            }),
            onResource(aws.ec2.LaunchTemplate, "Launch template", (lt, args, report) => {
                const c = { ...HOP_DEFAULTS, ...args.getConfig<Partial<HopConfig>>() };
                const hop = lt.metadataOptions?.httpPutResponseHopLimit;
                if (hop !== c.launchTemplateHopLimit) report(`Launch template '${args.name}' must set metadataOptions.httpPutResponseHopLimit: ${c.launchTemplateHopLimit} (found ${hop ?? "unset: the AMI default, 2 on AL2023"}): pods must not reach the node role through IMDS.`);
            }),
            onType("kubernetes:karpenter.k8s.aws/v1:EC2NodeClass", "EC2NodeClass", (nc, args, report) => {
                const c = { ...HOP_DEFAULTS, ...args.getConfig<Partial<HopConfig>>() };
                const hop = nc.spec?.metadataOptions?.httpPutResponseHopLimit;
                if (hop !== c.nodeClassHopLimit) report(`EC2NodeClass '${args.name}' must set spec.metadataOptions.httpPutResponseHopLimit: ${c.nodeClassHopLimit} (found ${hop ?? "unset"}): pods must not reach the node role through IMDS.`);
            }),
        ],
    },
    {
        name: "ec2-user-data-no-secrets",
        description: "Checks whether EC2 user data (userData, or userDataBase64 inflated when gzip) is free of secret-looking strings (tokens, passwords, keys).",
        enforcementLevel: "mandatory",
        validateResource: [
            onResource(aws.ec2.Instance, "EC2 instance", (i, args, report, d) => {
                const texts = readable(d, INSTANCE, i, (m) => report(m), `EC2 instance '${args.name}'`);
                if (texts === UNKNOWN) return;
                for (const m of texts.flatMap(secretLikeMatches)) report(`EC2 instance '${args.name}' user data contains a ${m.kind} ('${m.excerpt}'); read secrets at boot from SSM SecureString instead.`);
            }),
            onResource(aws.ec2.LaunchTemplate, "Launch template", (lt, args, report, d) => {
                const texts = readable(d, LAUNCH_TEMPLATE, lt, (m) => report(m), `Launch template '${args.name}'`);
                if (texts === UNKNOWN) return;
                for (const m of texts.flatMap(secretLikeMatches)) report(`Launch template '${args.name}' user data contains a ${m.kind} ('${m.excerpt}'); read secrets at boot from SSM SecureString instead.`);
            }),
        ],
    },
    {
        name: "ec2-containers-unprivileged",
        description: "Checks whether containers started from EC2 user data (userData, or userDataBase64 inflated when gzip) run as a non-root user and never privileged.",
        enforcementLevel: "mandatory",
        validateResource: onResource(aws.ec2.Instance, "EC2 instance", (i, args, report, d) => {
            const texts = readable(d, INSTANCE, i, (m) => report(m), `EC2 instance '${args.name}'`);
            if (texts === UNKNOWN) return;
            for (const cmd of texts.flatMap(dockerRuns)) {
                const user = /--user[ =](\S+)/.exec(cmd)?.[1];
                const where = cmd.trim().slice(0, 60);
                if (!user || /^(0|root)(:|$)/.test(user.replace(/^["']|["']$/g, ""))) report(`EC2 instance '${args.name}' starts a container without a non-root --user ('${where}…'); add --user 1000:1000.`);
                if (/--privileged\b/.test(cmd)) report(`EC2 instance '${args.name}' starts a privileged container ('${where}…'); remove --privileged.`);
            }
        }),
    },
];
