/** Instance metadata (IMDSv2, hop limit) and boot configuration (user data) of EC2 instances and launch templates. */
import * as path from "path";
import * as aws from "@pulumi/aws";
import { ReportViolation, ResourceValidation, ResourceValidationArgs, ResourceValidationPolicy } from "@pulumi/policy";
import { secretLikeMatches } from "../lib/secret-scan";
import { anyOf, onResource, onType, onTypes } from "../lib/rule";
import { Deferrals } from "../lib/unknowns";
import { DockerRun, dockerRuns, parseDockerRun, readableUserData, userDataOf, UserDataText } from "../lib/userdata";
import { UNKNOWN } from "../lib/util";
import { PUBLIC_PORTS } from "../lib/ports";
import { parseCidr } from "../lib/cidr";

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

interface ContainerConfig { allowedBindSources: string[] }
/**
 * What infra/instance/userdata.ts containerFlags and its units bind: the workspace (and the home on
 * it), the Mountpoint data mounts, the Jupyter token file and the SSH authorized keys.
 */
const CONTAINER_DEFAULTS: ContainerConfig = { allowedBindSources: ["/workspace", "/data", "/mydata", "/run/archaeo", "/etc/archaeo"] };

/** Namespace options whose value "host" shares the host's namespace with the container (opts.go: --pid, --ipc, --network/--net, --userns, --uts, --cgroupns). */
const HOST_NAMESPACE_OPTIONS = ["--pid", "--ipc", "--network", "--userns", "--uts", "--cgroupns"];

/** "/var/run/../run/docker.sock" -> "/run/docker.sock"; relative or named volumes -> undefined. */
function hostPath(source: string): string | undefined {
    if (!source.startsWith("/")) return undefined;
    return path.posix.normalize(source).replace(/(.)\/+$/, "$1");
}

const within = (p: string, root: string) => root === "/" || p === root || p.startsWith(`${root.replace(/\/+$/, "")}/`);

/**
 * What in one `docker run` gives the container the host: parsed as docker's CLI parses it
 * (docker/cli cli/command/container/opts.go, commit 143a7abe: addFlags and parseSecurityOpts; the
 * flags are spf13/pflag values, so a repeated string flag such as --user keeps its last value).
 */
export function containerProblems(run: DockerRun, c: ContainerConfig): string[] {
    const out: string[] = [];
    const all = (name: string) => run.options.filter((o) => o.name === name);
    const users = all("--user");
    const user = users.length ? (users[users.length - 1].value ?? "").replace(/^["']|["']$/g, "") : undefined;
    if (user === undefined || user === "") out.push("without a non-root --user; add --user 1000:1000");
    else if (/^(0|root)(:|$)/.test(user)) out.push(`as root (--user ${user}${users.length > 1 ? ", the last of its --user options, which docker applies" : ""}); use --user 1000:1000`);
    else if (/\$/.test(user)) out.push(`with --user ${user}, a variable the pack cannot check is not root; write the uid (--user 1000:1000)`);
    const privileged = all("--privileged").some((o) => o.value === undefined || /^(true|1)$/i.test(o.value));
    if (privileged) out.push("privileged (every capability and device of the host); remove --privileged");
    const caps = all("--cap-add").map((o) => o.value ?? "");
    if (caps.length) out.push(`with --cap-add ${caps.join(", ")} (capabilities beyond docker's default set, which --cap-drop ALL removes); remove --cap-add`);
    for (const name of HOST_NAMESPACE_OPTIONS) {
        for (const o of all(name)) if ((o.value ?? "").toLowerCase() === "host") out.push(`with ${name} host (the host's ${name.slice(2)} namespace: its processes, memory or services); join another container (container:<name>) or leave the default`);
    }
    for (const o of [...all("--device"), ...all("--device-cgroup-rule")]) out.push(`with ${o.name} ${o.value ?? ""} (a host device, e.g. the root volume's block device); GPUs come through --gpus`);
    for (const o of all("--security-opt")) {
        // parseSecurityOpts: "key=value", or the deprecated "key:value".
        const [key, value] = (o.value ?? "").split(/[=:]/, 2).map((x) => x.trim().toLowerCase());
        if ((key === "seccomp" || key === "apparmor" || key === "systempaths") && value === "unconfined") out.push(`with --security-opt ${o.value} (no ${key === "systempaths" ? "masked /proc and /sys paths" : `${key} profile`}); remove it`);
        if (key === "label" && value === "disable") out.push(`with --security-opt ${o.value} (no SELinux separation); remove it`);
    }
    const binds: string[] = [];
    for (const o of all("--volume")) binds.push((o.value ?? "").split(":")[0]);
    for (const o of all("--mount")) {
        const fields = Object.fromEntries((o.value ?? "").split(",").map((kv) => { const [k, ...v] = kv.split("="); return [k.trim().toLowerCase(), v.join("=").trim()]; }));
        if ((fields.type ?? "volume") === "bind") binds.push(fields.source ?? fields.src ?? "");
    }
    for (const source of binds) {
        const p = hostPath(source);
        if (p === undefined) continue;
        if (/\.sock$/.test(p) || ["/var/run/docker.sock", "/run/docker.sock", "/run/containerd/containerd.sock"].some((sock) => within(sock, p))) {
            out.push(`bind-mounting ${source}, which holds the container runtime's socket: whoever reaches it starts a privileged container, root on the host; remove the mount`);
            continue;
        }
        if (!c.allowedBindSources.some((root) => within(p, root))) out.push(`bind-mounting the host path ${source}, outside the workbench's own (${c.allowedBindSources.join(", ")}: allowedBindSources); mount only those`);
    }
    return out;
}

/**
 * Published ports of one `docker run` that listen beyond loopback. docker's -p/--publish syntax
 * (docker docs, "Published ports"; go-connections nat.ParsePortSpec): [ip:][hostPort:]containerPort[/proto],
 * an IPv6 address in brackets; without an ip, docker binds every interface. -P/--publish-all publishes
 * every exposed port on every interface. Only container ports in `allowed` may listen beyond loopback.
 */
/** Whether an address docker binds to is loopback: 127.0.0.0/8, ::1, or ::ffff:127.0.0.0/104 (an IPv4-mapped loopback). */
function isLoopback(ip: string): boolean {
    const v4 = parseCidr(`${ip}/32`);
    if (v4?.version === 4) return v4.address >> 24n === 127n;
    const v6 = parseCidr(`${ip}/128`);
    return v6?.version === 6 && (v6.address === 1n || v6.address >> 24n === 0xffff7fn);
}

export function publishProblems(run: DockerRun, allowed: readonly number[]): string[] {
    const out: string[] = [];
    for (const o of run.options) {
        if (o.name === "--publish-all" && !/^(false|0)$/i.test(o.value ?? "")) out.push("with --publish-all (every exposed port on every interface); publish each port on 127.0.0.1");
        if (o.name !== "--publish") continue;
        const spec = o.value ?? "";
        // splitParts: "[ip]:host:container", else the last two colon-separated parts are the ports and the rest the ip.
        const bracket = /^\[([^\]]*)\]:(.*)$/.exec(spec);
        const parts = bracket ? ["", ...bracket[2].split(":")] : spec.split(":");
        const ip = bracket ? bracket[1] : parts.length >= 3 ? parts.slice(0, -2).join(":") : "";
        const container = (parts[parts.length - 1] ?? "").replace(/\/(tcp|udp|sctp)$/i, "");
        if (ip && isLoopback(ip)) continue;
        const range = /^(\d+)(?:-(\d+))?$/.exec(container);
        const [low, high] = range ? [Number(range[1]), Number(range[2] ?? range[1])] : [NaN, NaN];
        if (range && low <= high && new Set(allowed.filter((p) => p >= low && p <= high)).size === high - low + 1) continue;
        out.push(`publishing ${spec} on ${ip ? `address ${ip}` : "every interface"}; publish it on 127.0.0.1 (reached through SSM or an SSH tunnel): only container ports ${allowed.join(", ")} (publicPorts) may listen beyond loopback`);
    }
    return out;
}

/** Resources whose user data starts containers, and how messages name them. */
const CONTAINER_HOSTS: Readonly<Record<string, string>> = {
    [INSTANCE]: "EC2 instance", [LAUNCH_TEMPLATE]: "Launch template", "aws:ec2/spotInstanceRequest:SpotInstanceRequest": "Spot instance request",
};

/** A docker-run check over every container an instance, launch template or spot request's user data starts. */
function eachContainerStart(problems: (run: DockerRun, args: ResourceValidationArgs) => string[]): ResourceValidation {
    return onTypes(Object.fromEntries(Object.entries(CONTAINER_HOSTS).map(([type, subject]) => [type, {
        subject,
        body: (props: any, args: ResourceValidationArgs, report: ReportViolation, d: Deferrals) => {
            const texts = readable(d, type, props, (m) => report(m), `${subject} '${args.name}'`);
            if (texts === UNKNOWN) return;
            for (const line of texts.flatMap(dockerRuns)) {
                const run = parseDockerRun(line, false);
                if (run) for (const problem of problems(run, args)) report(`${subject} '${args.name}' starts a container ('${line.trim().slice(0, 60)}…') ${problem}.`);
            }
        },
    }])));
}

const SPOT = "aws:ec2/spotInstanceRequest:SpotInstanceRequest";

/** The hop limit an instance (or a spot request's instance) needs: 2 on a container host, 1 otherwise. */
function instanceHopLimit(type: string, subject: string, i: any, args: ResourceValidationArgs, report: ReportViolation, d: Deferrals): void {
    const c = { ...HOP_DEFAULTS, ...args.getConfig<Partial<HopConfig>>() };
    const hop = i.metadataOptions?.httpPutResponseHopLimit;
    const tags = d.copy("tags", () => i.tags) as Record<string, unknown> | undefined | typeof UNKNOWN;
    if (tags === UNKNOWN) return;
    let host = c.containerHostTags.some((t) => tags !== undefined && t in tags);
    if (!host) {
        // Whether it runs containers is decided by its user data (userData or userDataBase64).
        const texts = readable(d, type, i, (m) => report(m), `${subject} '${args.name}'`);
        if (texts === UNKNOWN) return;
        host = texts.some((t) => dockerRuns(t).length > 0);
    }
    const want = host ? c.containerHostHopLimit : c.instanceHopLimit;
    if (hop !== want) {
        const why = host ? "it runs containers on the docker bridge, which reach IMDS one hop away" : "nothing on it needs IMDS beyond the host; a larger limit lets containers or forwarded traffic reach the role's credentials";
        report(`${subject} '${args.name}' must set metadataOptions.httpPutResponseHopLimit: ${want} (found ${hop ?? "unset: the AMI default, 2 on AL2023"}): ${why}.`);
    }
}

export const ec2Policies: ResourceValidationPolicy[] = [
    {
        name: "ec2-imdsv2-required",
        description: "Checks whether EC2 instances, spot instance requests and launch templates require IMDSv2 session tokens.",
        enforcementLevel: "mandatory",
        validateResource: anyOf(
            onResource(aws.ec2.Instance, "EC2 instance", (i, args, report) => {
                if (i.metadataOptions?.httpTokens !== "required") report(`EC2 instance '${args.name}' must set metadataOptions.httpTokens: "required" (IMDSv2).`);
            }),
            onType(SPOT, "Spot instance request", (i, args, report) => {
                if (i.metadataOptions?.httpTokens !== "required") report(`Spot instance request '${args.name}' must set metadataOptions.httpTokens: "required" (IMDSv2).`);
            }),
            onResource(aws.ec2.LaunchTemplate, "Launch template", (lt, args, report) => {
                if (lt.metadataOptions?.httpTokens !== "required") report(`Launch template '${args.name}' must set metadataOptions.httpTokens: "required" (IMDSv2).`);
            }),
        ),
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
        validateResource: anyOf(
            onResource(aws.ec2.Instance, "EC2 instance", (i, args, report, d) => instanceHopLimit(INSTANCE, "EC2 instance", i, args, report, d)),
            onType(SPOT, "Spot instance request", (i, args, report, d) => instanceHopLimit(SPOT, "Spot instance request", i, args, report, d)),
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
        ),
    },
    {
        name: "ec2-user-data-no-secrets",
        description: "Checks whether EC2 user data of instances, launch templates, spot requests and Karpenter EC2NodeClasses (userData, or userDataBase64 inflated when gzip) is free of secret-looking strings (tokens, passwords, keys).",
        enforcementLevel: "mandatory",
        validateResource: anyOf(
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
            onType(SPOT, "Spot instance request", (i, args, report, d) => {
                const texts = readable(d, SPOT, i, (m) => report(m), `Spot instance request '${args.name}'`);
                if (texts === UNKNOWN) return;
                for (const m of texts.flatMap(secretLikeMatches)) report(`Spot instance request '${args.name}' user data contains a ${m.kind} ('${m.excerpt}'); read secrets at boot from SSM SecureString instead.`);
            }),
            // Karpenter's node user data (spec.userData, plain text: Karpenter v1.11 makes it a MIME part after its NodeConfig),
            // e.g. the image-cache mount (infra/cluster/image-cache.ts): every GPU node boots with it.
            onType("kubernetes:karpenter.k8s.aws/v1:EC2NodeClass", "EC2NodeClass", (nc, args, report, d) => {
                const ud = d.read("spec.userData", () => nc.spec?.userData);
                if (ud === UNKNOWN || typeof ud !== "string" || ud === "") return;
                const r = readableUserData(ud);
                if ("error" in r) report(`EC2NodeClass '${args.name}' spec.userData ${r.error}, so the pack cannot check it; give a shell script or cloud-init text.`);
                else for (const m of secretLikeMatches(r.text)) report(`EC2NodeClass '${args.name}' user data contains a ${m.kind} ('${m.excerpt}'); read secrets at boot from SSM SecureString instead.`);
            }),
        ),
    },
    {
        name: "ec2-containers-publish-loopback",
        description: "Checks whether containers started from the user data of EC2 instances, launch templates and spot requests (userData, or userDataBase64 inflated when gzip; every docker/podman run of a line, inside `sh -c` too) publish their ports on loopback only (-p 127.0.0.1:8888:8888), except the allowed ones (SSH, 2222, by default): Jupyter and TensorBoard are never on the instance's address.",
        enforcementLevel: "mandatory",
        configSchema: {
            properties: {
                publicPorts: { type: "array", items: { type: "number" }, default: [...PUBLIC_PORTS], description: "Container ports that may be published beyond loopback (default: the workbench's SSH, 2222)." },
            },
        },
        validateResource: eachContainerStart((run, args) => publishProblems(run, args.getConfig<{ publicPorts?: number[] }>().publicPorts ?? [...PUBLIC_PORTS])),
    },
    {
        name: "ec2-containers-unprivileged",
        description: "Checks whether containers started from the user data of EC2 instances, launch templates and spot requests (userData, or userDataBase64 inflated when gzip; every docker/podman run of a line, inside `sh -c` too), their options parsed as docker's CLI parses them, run as a non-root user (the last --user) and never with host privileges: no --privileged, --cap-add, host PID/IPC/network/user/UTS/cgroup namespace, --device, unconfined seccomp/AppArmor/SELinux labels, and bind mounts only of the workbench's own host paths (never the container runtime's socket).",
        enforcementLevel: "mandatory",
        configSchema: {
            properties: {
                allowedBindSources: { type: "array", items: { type: "string" }, default: CONTAINER_DEFAULTS.allowedBindSources, description: "Host paths (and everything below them) a container may bind-mount: the workbench's workspace, data mounts, token and keys." },
            },
        },
        validateResource: eachContainerStart((run, args) => containerProblems(run, { ...CONTAINER_DEFAULTS, ...args.getConfig<Partial<ContainerConfig>>() })),
    },
];
