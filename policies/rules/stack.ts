/** Stack-wide rules: required tags, protected stateful resources, the workstation image. */
import { StackValidationPolicy } from "@pulumi/policy";
import { NON_TAGGABLE_AWS_TYPES } from "../lib/taggable";
import { label, onStack } from "../lib/rule";
import { effectiveTags } from "../lib/tags";
import { dockerRunImage, dockerRuns, userDataOfResource } from "../lib/userdata";
import { get, known, once, UNKNOWN } from "../lib/util";
import { stackRepositories } from "./kubernetes";

interface TagConfig { requiredTags: string[] }
interface ProtectConfig { statefulTypes: string[] }

const NODE_CLASS = "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass";
const DEFAULT_REQUIRED_TAGS = ["institution", "data-classification"];
const DEFAULT_STATEFUL = ["aws:ebs/volume:Volume", "aws:s3/bucket:Bucket", "aws:efs/fileSystem:FileSystem", "aws:kms/key:Key"];

export const stackPolicies: StackValidationPolicy[] = [
    {
        name: "required-tags",
        description: "Checks whether every taggable AWS resource (and every instance root volume, and every Karpenter EC2NodeClass's spec.tags for the instances it launches) carries the required tags, counting provider defaultTags.",
        enforcementLevel: "mandatory",
        configSchema: { properties: { requiredTags: { type: "array", items: { type: "string" }, default: DEFAULT_REQUIRED_TAGS } } },
        validateStack: onStack((args, report, d) => {
            const { requiredTags = DEFAULT_REQUIRED_TAGS } = args.getConfig<TagConfig>();
            for (const r of args.resources) {
                if (r.type === NODE_CLASS) {
                    // Karpenter puts spec.tags on the instances, volumes and launch templates it creates; the
                    // provider's defaultTags never reach them (karpenter docs, EC2NodeClass "spec.tags").
                    const tags = known(() => r.props.spec?.tags) as Record<string, unknown> | undefined | typeof UNKNOWN;
                    if (tags === UNKNOWN) { d.defer(`${label(r)}.spec.tags`); continue; }
                    const missing = requiredTags.filter((t) => !tags || !(t in tags) || tags[t] === "");
                    if (missing.length) report(`EC2NodeClass '${r.name}' spec.tags lacks ${missing.join(", ")}: the GPU instances and volumes Karpenter launches would carry no ${missing.join(", ")} (provider default tags do not reach them); set spec.tags.`, r.urn);
                    continue;
                }
                if (!r.type.startsWith("aws:") || NON_TAGGABLE_AWS_TYPES.has(r.type)) continue;
                const tags = effectiveTags(r);
                if (tags === UNKNOWN) { d.defer(`${label(r)}.tags`); continue; }
                const missing = requiredTags.filter((t) => !(t in tags) || tags[t] === "");
                if (missing.length) report(`${r.type.split(":").pop()} '${r.name}' lacks tags ${missing.join(", ")}; set them in the provider's defaultTags or on the resource.`, r.urn);
                if (r.type === "aws:ec2/instance:Instance") {
                    const root = known(() => ({ ...(r.props.volumeTags ?? {}), ...(r.props.rootBlockDevice?.tags ?? {}) }));
                    if (root === UNKNOWN) { d.defer(`${label(r)}.rootBlockDevice.tags`); continue; }
                    const rootMissing = requiredTags.filter((t) => !(t in root));
                    if (rootMissing.length) report(`Instance '${r.name}' root volume lacks tags ${rootMissing.join(", ")} (provider default tags do not reach it); set rootBlockDevice.tags.`, r.urn);
                }
            }
        }),
    },
    {
        name: "stateful-resources-protected",
        description: "Checks whether stateful resources (EBS volumes, S3 buckets, EFS, KMS keys) are protected from deletion.",
        enforcementLevel: "mandatory",
        configSchema: { properties: { statefulTypes: { type: "array", items: { type: "string" }, default: DEFAULT_STATEFUL } } },
        validateStack: (args, report) => {
            const { statefulTypes = DEFAULT_STATEFUL } = args.getConfig<ProtectConfig>();
            for (const r of args.resources) {
                if (statefulTypes.includes(r.type) && r.opts.protect !== true) {
                    report(`${r.type.split(":").pop()} '${r.name}' holds data and must be protected (protectData: true sets protect and retainOnDelete).`, r.urn);
                }
            }
        },
    },
    {
        name: "workstation-image-from-stack-ecr",
        description: "Checks whether every container an instance's user data (userData, or userDataBase64 inflated when gzip) starts runs this stack's ECR image pinned by digest: its IMAGE_REF, or the SSM parameter named by IMAGE_PARAMETER that the host reads IMAGE_REF from at boot (it must be one of this stack's aws:ssm/parameter resources), and the image of each `docker run`.",
        enforcementLevel: "mandatory",
        validateStack: onStack((args, report, d) => {
            const repos = once(() => stackRepositories(args.resources));
            // The stack's SSM parameters and their names, read once (not once per instance).
            const parameterNames = once(() => {
                const all = args.resources.filter((x) => x.type === "aws:ssm/parameter:Parameter").map((x) => ({ x, name: get(() => x.props.name) }));
                return { byName: new Map(all.filter((n) => typeof n.name === "string").map((n) => [n.name as string, n])), unknown: all.filter((n) => n.name === UNKNOWN) };
            });
            for (const r of args.resources) {
                if (r.type !== "aws:ec2/instance:Instance") continue;
                const { value, unknownPaths } = userDataOfResource(r);
                if (value === UNKNOWN) { unknownPaths.forEach((p) => d.defer(`${label(r)}.${p}`)); continue; }
                const texts = (value ?? []).filter((u): u is { path: string; text: string } => "text" in u);
                // Unreadable user data is reported by ec2-user-data-no-secrets and ec2-containers-unprivileged.
                const refs: Array<{ what: string; ref: string }> = [];
                for (const t of texts) {
                    const imageRef = /^\s*IMAGE_REF=["']?([^\s"']+)["']?\s*$/m.exec(t.text)?.[1];
                    if (imageRef) refs.push({ what: "IMAGE_REF", ref: imageRef });
                    // The workstation reads IMAGE_REF at boot from an SSM parameter (infra/instance/files/archaeo-prepare),
                    // so a rebuilt image does not change user data: judge that parameter's value.
                    const parameter = /^\s*IMAGE_PARAMETER=["']?([^\s"']+)["']?\s*$/m.exec(t.text)?.[1];
                    let fromParameter = false;
                    if (parameter && !imageRef) {
                        const names = parameterNames();
                        const match = names.byName.get(parameter);
                        if (match) {
                            const value = get(() => match.x.props.value);
                            if (value === UNKNOWN) { d.defer(`${label(match.x)}.value (the image ${label(r)} runs)`); }
                            else refs.push({ what: `IMAGE_REF from ${parameter}`, ref: String(value) });
                            fromParameter = true;
                        } else if (names.unknown.length) {
                            names.unknown.forEach((n) => d.defer(`${label(n.x)}.name`));
                            fromParameter = true;
                        } else {
                            report(`Instance '${r.name}' reads IMAGE_REF at boot from SSM parameter '${parameter}', which this stack does not define; define it (aws.ssm.Parameter) with this stack's repository@sha256:<digest>.`, r.urn);
                            fromParameter = true;
                        }
                    }
                    for (const line of dockerRuns(t.text)) {
                        const image = dockerRunImage(line);
                        if (image === undefined) { report(`Instance '${r.name}' starts a container whose image the pack cannot find ('${line.trim().slice(0, 60)}…'); name the image as the first argument after the options.`, r.urn); continue; }
                        if (/^\$\{?IMAGE_REF\}?$/.test(image)) {
                            if (!imageRef && !fromParameter) report(`Instance '${r.name}' runs \${IMAGE_REF} but its user data sets no IMAGE_REF=<this stack's repository>@sha256:<digest> and no IMAGE_PARAMETER naming this stack's SSM parameter that holds it.`, r.urn);
                            continue;
                        }
                        refs.push({ what: "docker run", ref: image });
                    }
                }
                if (refs.length === 0) continue;
                const rs = repos();
                if (rs === UNKNOWN) { d.defer(`${label(r)} IMAGE_REF (this stack's ECR URL is known once the repository exists)`); continue; }
                for (const { what, ref } of refs) {
                    const ok = rs.some((u) => new RegExp(`^${u.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}@sha256:[0-9a-f]{64}$`).test(ref));
                    if (!ok) report(`Instance '${r.name}' runs image '${ref}' (${what}), which is not this stack's ECR repository pinned by digest.`, r.urn);
                }
            }
        }),
    },
];
