/**
 * Key ownership, checked on resolved values: every KMS key reference in the stack is the stack's own
 * key (in the resource's region) and that key is in the stack's account. Resource policies only see
 * one resource, so "customer-managed" is all they can say; this stack policy closes the gap (a key
 * of another account, or another customer key of this one, passes them).
 */
import { StackValidationPolicy } from "@pulumi/policy";
import { stackAccount } from "../lib/account";
import { parseArn } from "../lib/arn";
import { KEY_REFERENCES, keyAccount, keyReferenceProblem } from "../lib/keys";
import { label, onStack } from "../lib/rule";
import { get, UNKNOWN } from "../lib/util";
import { valuesAt } from "../lib/walk";

interface KeyConfig { accountId?: string; additionalKeyArns: string[] }

/**
 * Types whose key no resource rule requires (ebs, s3, ecr, data, kubernetes and the audit trail's own
 * check cover the others, and a trail that logs no dataset bucket is judged here): an absent or empty
 * key is reported here, since the service would then use its AWS-managed key (SQS SSE-SQS, AWS Backup
 * aws/backup, Secrets Manager aws/secretsmanager, CloudTrail SSE-S3) or none (SNS).
 */
const KEY_REQUIRED_HERE: ReadonlySet<string> = new Set(["aws:sqs/queue:Queue", "aws:sns/topic:Topic", "aws:backup/vault:Vault", "aws:secretsmanager/secret:Secret", "aws:cloudtrail/trail:Trail"]);

export const keyStackPolicies: StackValidationPolicy[] = [
    {
        name: "kms-key-references-stack-key",
        description: "Checks whether every KMS key reference (EBS, S3, ECR, EFS, EKS, SSM, logs, SQS, CloudTrail, storage classes, node classes) is, on resolved values, the stack's own key by ARN, in the resource's region and the stack's account; and every key that encrypts a copy (DLM and EBS snapshot copies, S3 replicas) a key ARN of the stack's account.",
        enforcementLevel: "mandatory",
        configSchema: {
            properties: {
                accountId: { type: "string", default: "", description: "The deploying account; empty = the provider's allowedAccountIds, else derived from the stack's own ARNs." },
                additionalKeyArns: { type: "array", items: { type: "string" }, default: [], description: "Other keys of this account the stack may use (e.g. a backup-copy key in another region)." },
            },
        },
        validateStack: onStack((args, report, d) => {
            const c = args.getConfig<Partial<KeyConfig>>();
            const keys = args.resources.filter((r) => r.type === "aws:kms/key:Key").map((k) => ({
                k, ids: [get(() => k.props.arn), get(() => k.props.keyId), get(() => k.props.id)],
            }));
            const keyIds = keys.flatMap((x) => x.ids).filter((v): v is string => typeof v === "string" && v.length > 0);
            const keysUnknown = keys.some((x) => x.ids[0] === UNKNOWN);
            const refs: Array<{ r: (typeof args.resources)[number]; path: string; value: unknown; sameKey: boolean }> = [];
            for (const r of args.resources) {
                for (const spec of KEY_REFERENCES[r.type] ?? []) {
                    const found = valuesAt(r.props, spec.path);
                    for (const f of found) refs.push({ r, path: f.path, value: f.value, sameKey: spec.sameKey !== false });
                    if (!KEY_REQUIRED_HERE.has(r.type)) continue;
                    // Absent or empty only: an alias (alias/aws/* included) is reported below.
                    for (const f of found.length ? found : [{ path: spec.path, value: undefined }]) {
                        if (f.value === undefined || f.value === null || f.value === "") report(`${label(r)} must be encrypted with the stack's KMS key: ${f.path} ${keyReferenceProblem(f.value)}.`, r.urn);
                    }
                }
            }
            if (refs.length === 0) return;
            const acct = stackAccount(args.resources, c.accountId);
            const extra = c.additionalKeyArns ?? [];
            const external = new Set<string>();
            for (const ref of refs) {
                const where = `${label(ref.r)} ${ref.path}`;
                if (ref.value === UNKNOWN) { d.defer(`${label(ref.r)}.${ref.path}`); continue; }
                if (typeof ref.value !== "string" || ref.value === "") continue; // absent: the resource policies, or KEY_REQUIRED_HERE above, report it
                const v = ref.value;
                if (/(^|:)alias\//.test(v)) {
                    report(`${where} names the key by alias (${v}); give the key ARN: KMS resolves an alias in the caller's account, so the data may end up under another account's key.`, ref.r.urn);
                    continue;
                }
                // A copy into another region (DLM crossRegionCopyRules, a backup vault of the copy region's
                // provider) needs a key in that region: it must be a key ARN of this account there, not the stack key.
                const parsed = parseArn(v);
                const ownRegion = get(() => ref.r.provider?.props.region);
                const stackKeyRegions = keyIds.map((k) => parseArn(k)?.region).filter(Boolean);
                const isCopy = !ref.sameKey || (!!parsed && typeof ownRegion === "string" && parsed.region === ownRegion && stackKeyRegions.length > 0 && !stackKeyRegions.includes(parsed.region));
                if (isCopy) {
                    if (!parsed || parsed.service !== "kms") { report(`${where} is '${v}'; a copy key must be given as a full key ARN so its account can be checked.`, ref.r.urn); continue; }
                } else if (keys.length) {
                    if (keyIds.includes(v) || extra.includes(v)) {
                        // fine: one of this stack's keys
                    } else if (keysUnknown) {
                        d.defer(`${where} (this stack's key ARN is known once the key exists)`);
                        continue;
                    } else {
                        report(`${where} is ${v}, not this stack's key (${keys.map((x) => String(x.ids[0])).join(", ")}).`, ref.r.urn);
                        continue;
                    }
                } else if (!extra.includes(v)) {
                    external.add(v);
                }
                const arn = parseArn(v);
                if (!arn) {
                    if (!keys.length) report(`${where} is '${v}'; give the existing key as a full key ARN (arn:aws:kms:<region>:<account>:key/<id>) so its account and region can be checked.`, ref.r.urn);
                    continue;
                }
                const region = get(() => ref.r.provider?.props.region);
                if (ref.sameKey && typeof region === "string" && region && arn.region !== region) {
                    report(`${where} is a key in ${arn.region}, but the resource is in ${region}; KMS keys are regional.`, ref.r.urn);
                }
                const account = keyAccount(v);
                if (acct.conflicting) continue; // principals-in-stack-account reports it
                if (!acct.account) { d.defer(`${where} (the stack's account is known once its resources exist)`); continue; }
                if (account && account !== acct.account) report(`${where} is a key of account ${account}, but this stack deploys to ${acct.account}: the institution must own the key that encrypts its data.`, ref.r.urn);
            }
            if (external.size > 1) {
                report(`The stack uses several keys (${[...external].join(", ")}) but defines none; every reference must be the one stack key (kmsKeyArn).`);
            }
        }),
    },
];
