/**
 * Time to notebook: how long a researcher waits from "start" to a Jupyter page, per path, modelled from the
 * plan's own sizes (the image's compressed size in images/pytorch-cuda/image.json, the instance type, the
 * volume throughput the program gives the disk the image lands on) and per-step times that each cite a source.
 *
 * Pure: no Pulumi, no I/O beyond reading image.json. `npm run plan` prints `renderTtn(ttnModel(cfg))`;
 * README's time-to-notebook table is `readmeTtnSection()` (test/ttn.test.ts keeps them equal);
 * `npx tsx tools/ttn.ts --readme` rewrites it.
 *
 * Totals: P50 is the sum of the steps' P50s; P90 is P50 + sqrt(sum of (P90 - P50)^2) per step, i.e. the
 * steps' spreads treated as independent (a slow EC2 launch does not make the image pull slow). Summing the
 * steps' P90s would claim every step is slow at once, which a one-in-ten start is not.
 */
import * as fs from "fs";
import * as path from "path";
import type { StackConfig } from "../infra/config";
import { IMAGE_CACHE_VOLUME, NODE_ROOT_VOLUME } from "../infra/cluster/image-cache";

/** A cited source of a step time. */
export interface Source { readonly id: string; readonly title: string; readonly url: string; readonly says: string }

export const SOURCES: Readonly<Record<string, Source>> = Object.freeze({
    coldboot: {
        id: "coldboot", title: "brevdev/ec2-coldboot-research, @fix_plan.md (3 runs per case, 2025)",
        url: "https://github.com/brevdev/ec2-coldboot-research/blob/main/%40fix_plan.md",
        says: "RunInstances to SSH 25.8 s on average (API 19%, pending->running 69% = 16.4-16.6 s whatever the instance family, boot->SSH 12% = 3.2 s)",
    },
    launchtimes: {
        id: "launchtimes", title: "Marty Sweet, 'EC2 Launch Times' (October 2023)",
        url: "https://www.martysweet.co.uk/ec2-launch-times/",
        says: "EBS encryption slows instance launch (the Nitro card fetches the volume's data key from KMS); Amazon Linux 2023 is the fastest general-purpose AMI to boot",
    },
    stopstart: {
        id: "stopstart", title: "Amazon EC2 User Guide, 'Stop and start Amazon EC2 instances'",
        url: "https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/Stop_Start.html",
        says: "a started instance is typically migrated to a new host; 'it can take a few minutes for the instance to enter the running state'",
    },
    prefetch: {
        id: "prefetch", title: "akingscote, 'AWS Bottlerocket - significantly reducing container startup time' (Karpenter + EBS snapshot)",
        url: "https://akingscote.co.uk/posts/aws-eks-bottlerocket-prefetch",
        says: "Karpenter launches a node, registers and initialises it (~30 s); images already on the snapshot volume start instantly",
    },
    karpenterguide: {
        id: "karpenterguide", title: "devfloor9 engineering playbook, 'Comprehensive Guide to Karpenter-Based EKS Scaling Strategies' (2026-02)",
        url: "https://devfloor9.github.io/engineering-playbook/en/docs/infrastructure-optimization/karpenter-autoscaling",
        says: "an additional 45-90 seconds when new node provisioning is required (measured on 28 clusters, 15,000+ pods)",
    },
    union: {
        id: "union", title: "Union.ai, 'We cut container cold boot from minutes to seconds' (2025)",
        url: "https://web.union.ai/blog-post/we-cut-container-cold-boot-from-minutes-to-seconds-heres-how",
        says: "a standard pull of a 10 GB image on a fresh node takes 4-5 minutes; container start itself ~1 s",
    },
    bottlerocketblog: {
        id: "bottlerocketblog", title: "AWS Containers blog, 'Reduce container startup time on Amazon EKS with Bottlerocket data volume' (2023-10-19)",
        url: "https://aws.amazon.com/blogs/containers/reduce-container-startup-time-on-amazon-eks-with-bottlerocket-data-volume/",
        says: "pulling and extracting multi-GiB ML images from ECR takes several minutes; a data volume created from a snapshot holding the pulled image removes the pull",
    },
    aionEks: {
        id: "aionEks", title: "awslabs AI on EKS, 'Container startup time: accelerating pull process'",
        url: "https://awslabs.github.io/ai-on-eks/docs/guidance/container-startup-time/accelerate-pull-process",
        says: "containerd's overlayfs snapshotter fully unpacks every layer to disk before the container starts: blocking and sequential",
    },
    gp3: {
        id: "gp3", title: "AWS EC2 API model (botocore 1.43, LaunchTemplateEbsBlockDeviceRequest.Throughput) and EBS volume types",
        url: "https://docs.aws.amazon.com/ebs/latest/userguide/general-purpose.html",
        says: "gp3 throughput 125 MiB/s unless provisioned (125-2,000); extraction writes the unpacked layers at no more than that",
    },
    volinit: {
        id: "volinit", title: "AWS EC2 API model (botocore 1.43, VolumeInitializationRate) and Karpenter v1.11 EC2NodeClass CRD (blockDeviceMappings[].ebs.volumeInitializationRate)",
        url: "https://docs.aws.amazon.com/ebs/latest/userguide/initalize-volume.html",
        says: "a volume created from a snapshot loads its blocks from S3 on first read; a provisioned initialization rate (100-300 MiB/s) makes that rate predictable",
    },
    image: {
        id: "image", title: "images/pytorch-cuda/image.json (estimatedCompressedGiB, torchStackWheels)",
        url: "images/pytorch-cuda/image.json",
        says: "the workbench image's compressed size; the torch + CUDA wheels it holds are zip-deflated ~2:1",
    },
    soci: {
        id: "soci", title: "awslabs/amazon-eks-ami PR #2352 'feat(nodeadm) add SOCI snapshotter support' (2025-08) and pytorch/ci-infra PR #1033 (2026-08)",
        url: "https://github.com/awslabs/amazon-eks-ami/pull/2352",
        says: "AL2023 EKS AMIs ship soci-snapshotter behind nodeadm's FastImagePull gate, parallel pull+unpack of ordinary images (lazy loading needs a SOCI index per image); AWS measured ~60% less on a 10 GB DLC image; gp3 root >= 600 MiB/s recommended",
    },
    estimate: {
        id: "estimate", title: "estimate (no published measurement found; to be replaced by a measurement on the first deployment)",
        url: "",
        says: "an engineering estimate, stated as such",
    },
});

/** One step of a path: what happens, its size, P50 and P90 in seconds, and its source(s). */
export interface Step { readonly what: string; readonly size?: string; readonly p50: number; readonly p90: number; readonly sources: readonly string[] }
export interface TtnPath {
    readonly id: string;
    readonly title: string;
    /** The mode whose researchers can take this path. */
    readonly mode: "instance" | "cluster";
    readonly steps: readonly Step[];
    readonly p50: number;
    readonly p90: number;
    /** This stack's researchers take it (its mode, and the cache configured or not). */
    readonly applies: boolean;
    readonly note?: string;
}
export interface TtnModel { readonly stack: string; readonly mode: "instance" | "cluster"; readonly instanceType: string; readonly imageGiB: number; readonly paths: readonly TtnPath[] }

/** Unpacked bytes per compressed byte of the image (zip/gzip-deflated CUDA libraries: ~2:1; source `image`). */
export const UNPACK_RATIO = 2.0;
/**
 * End-to-end pull rate on compressed bytes (download + gunzip + write, layer by layer), MiB/s:
 * P50 from Union.ai's 10 GB in 4 min (~40 MiB/s), P90 from its 5 min (~32 MiB/s), the large single layer
 * (4 GiB of the image is one layer) keeping docker's three parallel downloads from helping.
 */
export const PULL_MIBPS = { p50: 40, p90: 32 } as const;
/** Of the unpacked image, what `import torch` + CUDA init + Jupyter read at start (libtorch_cuda, cuDNN, cuBLAS, Python): GiB. */
export const READ_AT_START_GIB = 3.0;
/**
 * SOCI parallel pull+unpack as AWS measured it (~60% less pull time on a 10 GB Deep Learning Container image; source
 * `soci`), on a root volume at the 600 MiB/s the EKS AMI's docs ask for; P90 keeps only half the saving.
 */
export const SOCI_PARALLEL = { saving: 0.6, rootThroughputMiBps: 600 } as const;

const round = (x: number) => Math.round(x);

function total(steps: readonly Step[]): { p50: number; p90: number } {
    const p50 = steps.reduce((s, x) => s + x.p50, 0);
    const spread = Math.sqrt(steps.reduce((s, x) => s + (x.p90 - x.p50) ** 2, 0));
    return { p50: round(p50), p90: round(p50 + spread) };
}

function mkPath(id: string, title: string, mode: "instance" | "cluster", steps: Step[], applies: boolean, note?: string): TtnPath {
    return { id, title, mode, steps, ...total(steps), applies, ...(note ? { note } : {}) };
}

/** The image's compressed size (GiB) from image.json. */
export function imageCompressedGiB(file = path.join(__dirname, "..", "images", "pytorch-cuda", "image.json")): number {
    return (JSON.parse(fs.readFileSync(file, "utf8")) as { estimatedCompressedGiB: number }).estimatedCompressedGiB;
}

/** The pull of `gib` compressed GiB onto a gp3 volume of `throughput` MiB/s: the slower of the network and the disk. */
export function pullStep(gib: number, throughputMiBps: number): Step {
    const unpackedGiB = gib * UNPACK_RATIO;
    const disk = (unpackedGiB * 1024) / throughputMiBps;
    const p50 = Math.max((gib * 1024) / PULL_MIBPS.p50, disk);
    const p90 = Math.max((gib * 1024) / PULL_MIBPS.p90, disk * 1.2);
    return {
        what: "pull and unpack the workbench image (no layer cached)",
        size: `${gib} GiB compressed, ~${unpackedGiB.toFixed(1)} GiB unpacked onto gp3 at ${throughputMiBps} MiB/s`,
        p50: round(p50), p90: round(p90), sources: ["image", "union", "aionEks", "gp3"],
    };
}

/** First read, from a volume created from a snapshot, of what the server touches at start. */
export function lazyReadStep(initMiBps: number): Step {
    const mib = READ_AT_START_GIB * 1024;
    return {
        what: "first read of torch/CUDA libraries from the snapshot volume (blocks fetched from S3)",
        size: `~${READ_AT_START_GIB} GiB at the volume initialization rate ${initMiBps} MiB/s`,
        p50: round(mib / initMiBps), p90: round(mib / 100), sources: ["volinit", "estimate"],
    };
}

/**
 * The image tag this stack deploys (infra/foundation/registry.ts imageTag: the image context's digest and the build
 * args), computed as the program does. Loaded lazily: it brings in Pulumi.
 */
export function deployedImageTag(cfg: StackConfig): string {
    const { contextDigest, imageTag } = require("../infra/foundation/registry") as typeof import("../infra/foundation/registry");
    const { imageBuildArgs, IMAGE_CONTEXT } = require("../infra/foundation") as typeof import("../infra/foundation");
    const dir = path.join(__dirname, "..", IMAGE_CONTEXT);
    return imageTag(contextDigest(dir, path.join(dir, "Dockerfile")), imageBuildArgs(cfg));
}

/**
 * Whether the stack's image cache holds the image it deploys: configured, and its recorded image tag equal to
 * `imageTag` (the deployed one). A cache that is configured but not current is stale.
 */
export function cacheState(cfg: StackConfig, imageTag: string | undefined): "none" | "current" | "stale" {
    if (cfg.mode !== "cluster" || cfg.cluster.imageCache === undefined) return "none";
    const c = cfg.cluster.imageCache;
    return c.imageTag !== undefined && c.imageTag === imageTag ? "current" : "stale";
}

/**
 * The model. `imageTag` is the tag the stack deploys (the plan passes the program's; left out, it is computed as the
 * program does): a cache that holds another tag is STALE and its nodes take the stale path, which pulls.
 */
export function ttnModel(cfg: StackConfig, imageGiB = imageCompressedGiB(), imageTag?: string): TtnModel {
    const jupyter: Step = { what: "container start and Jupyter server ready (Python imports, extensions)", p50: 8, p90: 15, sources: ["union", "estimate"] };
    const paths: TtnPath[] = [];
    const rootThroughput = 125; // the workstation's root gp3 sets no throughput: the baseline
    paths.push(mkPath("ws-restart", "Workstation restart (stopped, image on its root volume)", "instance", [
        { what: "StartInstances to running (a new host, encrypted volumes attached)", size: cfg.instanceType, p50: 25, p90: 60, sources: ["coldboot", "launchtimes", "stopstart"] },
        { what: "boot to docker ready (DLAMI: NVIDIA driver, persistenced, docker)", p50: 30, p90: 50, sources: ["coldboot", "estimate"] },
        { what: "archaeo-prepare: image and keys from SSM, /workspace mounted, image already local (no network wait)", p50: 3, p90: 8, sources: ["estimate"] },
        jupyter,
    ], cfg.mode === "instance"));
    paths.push(mkPath("ws-first", "Workstation first boot (new instance, image pulled from ECR)", "instance", [
        { what: "RunInstances to running", size: cfg.instanceType, p50: 20, p90: 45, sources: ["coldboot", "launchtimes"] },
        { what: "first boot to docker ready (root volume read from the AMI snapshot for the first time, cloud-init)", p50: 50, p90: 90, sources: ["coldboot", "volinit", "estimate"] },
        { what: "archaeo-prepare: image and keys from SSM, /workspace formatted and mounted", p50: 5, p90: 12, sources: ["estimate"] },
        pullStep(imageGiB, rootThroughput),
        jupyter,
    ], cfg.mode === "instance"));
    const spawn: Step = { what: "hub spawn: KubeSpawner creates the pod, scheduler binds it", p50: 3, p90: 8, sources: ["estimate"] };
    const mounts: Step = { what: "volumes attached: EFS home (access point), S3 mounts (Mountpoint CSI)", p50: 5, p90: 12, sources: ["estimate"] };
    paths.push(mkPath("cl-warm", "Cluster server on a warm GPU node (image already on the node)", "cluster", [spawn, mounts, jupyter], cfg.mode === "cluster"));
    const node: Step[] = [
        spawn,
        { what: "Karpenter sees the pending pod and calls CreateFleet (batching window)", p50: 5, p90: 12, sources: ["karpenterguide", "estimate"] },
        { what: "CreateFleet to running (encrypted volumes)", size: cfg.instanceType, p50: 20, p90: 45, sources: ["coldboot", "launchtimes"] },
        { what: "AL2023 boot, nodeadm, kubelet registers, node Ready (CNI up)", p50: 35, p90: 60, sources: ["prefetch", "karpenterguide"] },
        { what: "NVIDIA device plugin starts and advertises nvidia.com/gpu", p50: 15, p90: 30, sources: ["estimate"] },
        mounts,
    ];
    const cache = "image cache (imageCacheSnapshotId)";
    const hasCache = cfg.mode === "cluster" && cfg.cluster.imageCache !== undefined;
    const state = hasCache ? cacheState(cfg, imageTag ?? deployedImageTag(cfg)) : "none";
    paths.push(mkPath("cl-cold", "Cluster server on a new GPU node, no image cache", "cluster", [...node, pullStep(imageGiB, NODE_ROOT_VOLUME.throughputMiBps), jupyter],
        cfg.mode === "cluster" && !hasCache));
    // SOCI parallel pull (the AL2023 AMI's FastImagePull gate): compared, not chosen (infra/cluster/image-cache.ts says why).
    const plain = pullStep(imageGiB, SOCI_PARALLEL.rootThroughputMiBps);
    paths.push(mkPath("cl-cold-soci", "Cluster server on a new GPU node, SOCI parallel pull (compared, not used)", "cluster", [...node, {
        what: "pull with SOCI parallel pull+unpack (nodeadm FastImagePull; root gp3 raised to 600 MiB/s)",
        size: `${imageGiB} GiB compressed, ${Math.round(SOCI_PARALLEL.saving * 100)}% less time than a plain pull`,
        p50: round(plain.p50 * (1 - SOCI_PARALLEL.saving)), p90: round(plain.p90 * (1 - SOCI_PARALLEL.saving / 2)), sources: ["soci", "image"],
    }, jupyter], false, "not configured: the image cache removes the pull instead"));
    paths.push(mkPath("cl-cold-cached", `Cluster server on a new GPU node, ${cache}`, "cluster", [
        ...node,
        { what: "image found in containerd's store on the snapshot data volume: no pull", size: `${imageGiB} GiB compressed, already unpacked`, p50: 1, p90: 3, sources: ["bottlerocketblog", "prefetch"] },
        lazyReadStep(IMAGE_CACHE_VOLUME.initializationRateMiBps),
        jupyter,
    ], state === "current", state === "current" ? undefined : state === "stale"
        ? "not this stack's: its cache is STALE (it holds another image tag than the one deployed); rebuild it (the plan's Image cache steps)"
        : "set imageCacheSnapshotId to take this path (README 'Image cache')"));
    // A stale cache: the deployed tag is not in the store, so containerd pulls it onto the cache volume. The whole image
    // is counted: containerd reuses a layer only when its digest is already in the store, and nothing here shows the
    // image's layer digests are reproducible between builds (a rebuild of the same Dockerfile can give new digests), so
    // no layer of the old image is assumed reusable.
    paths.push(mkPath("cl-cold-stale", `Cluster server on a new GPU node, ${cache} STALE (holds another image tag)`, "cluster", [
        ...node,
        { ...pullStep(imageGiB, IMAGE_CACHE_VOLUME.throughputMiBps), what: "pull and unpack the deployed image onto the cache volume (the cache holds another tag; no layer reuse assumed)" },
        jupyter,
    ], state === "stale", state === "stale" ? "rebuild the cache (the plan's Image cache steps) to take the cached path" : "only when the cache holds another image tag than the one deployed"));
    return { stack: cfg.stack, mode: cfg.mode, instanceType: cfg.instanceType, imageGiB, paths };
}

const fmt = (s: number) => (s >= 90 ? `${(s / 60).toFixed(1)} min` : `${s} s`);

/** The plan's section: per path, its steps, sizes and sources, and the totals. */
export function renderTtn(m: TtnModel): string[] {
    const out = [`Time to notebook (model: tools/ttn.ts; P50 / P90; ${m.mode} mode, ${m.instanceType}, image ${m.imageGiB} GiB compressed):`];
    const paths = m.paths.filter((p) => p.mode === m.mode);
    for (const p of paths) {
        out.push(`  ${p.applies ? "▶" : " "} ${p.title}: P50 ${fmt(p.p50)}, P90 ${fmt(p.p90)}${p.applies ? "  (this stack)" : ""}${p.note ? `  — ${p.note}` : ""}`);
        for (const s of p.steps) out.push(`      ${String(s.p50).padStart(4)} s / ${String(s.p90).padStart(4)} s  ${s.what}${s.size ? ` [${s.size}]` : ""}  {${s.sources.join(", ")}}`);
    }
    out.push("  Sources:");
    const used = [...new Set(paths.flatMap((p) => p.steps.flatMap((s) => s.sources)))].sort();
    for (const id of used) {
        const s = SOURCES[id];
        out.push(`    {${id}} ${s.title}${s.url ? ` <${s.url}>` : ""}: ${s.says}`);
    }
    out.push("  Totals: P50 = sum of step P50s; P90 = P50 + sqrt(sum of (P90-P50)^2), step spreads taken as independent.");
    return out;
}

/** README's table: one row per path, for each stack given. */
export function renderReadmeTable(models: readonly TtnModel[]): string {
    const lines = ["| stack | path | P50 | P90 | largest step |", "|---|---|---|---|---|"];
    for (const m of models) {
        for (const p of m.paths.filter((x) => x.mode === m.mode)) {
            const big = [...p.steps].sort((a, b) => b.p50 - a.p50)[0];
            lines.push(`| ${m.stack} (${m.instanceType}) | ${p.title} | ${fmt(p.p50)} | ${fmt(p.p90)} | ${big.what} (${big.p50} s) |`);
        }
    }
    return lines.join("\n");
}

export const README_BEGIN = "<!-- ttn:begin (generated by `npx tsx tools/ttn.ts --readme` from tools/ttn.ts; test/ttn.test.ts checks it) -->";
export const README_END = "<!-- ttn:end -->";
/** The stacks README's table shows: the instance-mode example and the cluster-mode national-heritage. */
export const README_STACKS = ["example", "national-heritage"] as const;

export function readmeModels(): TtnModel[] {
    const { parseConfig } = require("../infra/config") as typeof import("../infra/config");
    const { readStack } = require("./stacks") as typeof import("./stacks");
    return README_STACKS.map((s) => {
        const f = readStack(s);
        return ttnModel(parseConfig(f.raw, { stack: s, region: f.region, today: "2027-01-01", inferAccount: true }));
    });
}

export function readmeTtnSection(): string {
    return `${README_BEGIN}\n${renderReadmeTable(readmeModels())}\n${README_END}`;
}

export const USAGE = `usage: npx tsx tools/ttn.ts [--readme]

The time-to-notebook model (tools/ttn.ts) for the stacks README's table shows (${README_STACKS.join(", ")}): each path's
steps with sizes, P50/P90 seconds and sources. --readme rewrites README.md's table between its ttn markers
(test/ttn.test.ts checks it). \`npm run plan -- --stack <name>\` prints the same section for any stack.`;

if (require.main === module) {
    if (process.argv.includes("--help") || process.argv.includes("-h")) {
        process.stdout.write(`${USAGE}\n`);
    } else if (process.argv.includes("--readme")) {
        const file = path.join(__dirname, "..", "README.md");
        const text = fs.readFileSync(file, "utf8");
        const a = text.indexOf(README_BEGIN), b = text.indexOf(README_END);
        if (a < 0 || b < 0) throw new Error(`README.md lacks the ${README_BEGIN} ... ${README_END} markers`);
        fs.writeFileSync(file, text.slice(0, a) + readmeTtnSection() + text.slice(b + README_END.length));
    } else {
        for (const m of readmeModels()) process.stdout.write(`${renderTtn(m).join("\n")}\n\n`);
    }
}
