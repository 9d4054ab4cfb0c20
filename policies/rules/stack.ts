/** Stack-wide rules: required tags, protected stateful resources, the workstation image. */
import { StackValidationPolicy } from "@pulumi/policy";
import { NON_TAGGABLE_AWS_TYPES } from "../lib/taggable";
import { label, onStack } from "../lib/rule";
import { effectiveTags } from "../lib/tags";
import { get, known, UNKNOWN } from "../lib/util";
import { stackRepositories } from "./kubernetes";

interface TagConfig { requiredTags: string[] }
interface ProtectConfig { statefulTypes: string[] }

const DEFAULT_REQUIRED_TAGS = ["institution", "data-classification"];
const DEFAULT_STATEFUL = ["aws:ebs/volume:Volume", "aws:s3/bucket:Bucket", "aws:efs/fileSystem:FileSystem", "aws:kms/key:Key"];

export { effectiveTags };

export const stackPolicies: StackValidationPolicy[] = [
    {
        name: "required-tags",
        description: "Checks whether every taggable AWS resource (and every instance root volume) carries the required tags, counting provider defaultTags.",
        enforcementLevel: "mandatory",
        configSchema: { properties: { requiredTags: { type: "array", items: { type: "string" }, default: DEFAULT_REQUIRED_TAGS } } },
        validateStack: onStack((args, report, d) => {
            const { requiredTags = DEFAULT_REQUIRED_TAGS } = args.getConfig<TagConfig>();
            for (const r of args.resources) {
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
        description: "Checks whether the workstation runs the image from this stack's ECR repository, pinned by digest.",
        enforcementLevel: "mandatory",
        validateStack: onStack((args, report, d) => {
            const repos = stackRepositories(args.resources);
            for (const r of args.resources) {
                if (r.type !== "aws:ec2/instance:Instance") continue;
                const ud = get(() => r.props.userData);
                if (ud === UNKNOWN) { d.defer(`${label(r)}.userData`); continue; }
                if (typeof ud !== "string") continue;
                const m = /^\s*IMAGE_REF=(\S+)\s*$/m.exec(ud);
                if (!m) continue;
                if (repos === UNKNOWN) { d.defer(`${label(r)} IMAGE_REF (this stack's ECR URL is known once the repository exists)`); continue; }
                const ok = repos.some((u) => new RegExp(`^${u.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}@sha256:[0-9a-f]{64}$`).test(m[1]));
                if (!ok) report(`Instance '${r.name}' runs image '${m[1]}', which is not this stack's ECR repository pinned by digest.`, r.urn);
            }
        }),
    },
];
