/**
 * Mutation test: each security-relevant change of what the program registers (or, for shapes the
 * program does not build, the fixture stack) must be reported by the policy meant to catch it, not
 * by any policy. Values made unknown must be reported as deferred to `up` by their policy. Known
 * violations must still be caught at preview, next to unknowns. Stack config that breaks a rule must
 * be refused by the program's config validation, naming the key. Scores are printed; under 100% fails.
 */
import { strict as assert } from "assert";
import * as zlib from "zlib";
import type { RecordedResource } from "../tools/mock-engine";
import { runPolicies, PolicyRunResult } from "../tools/policy-runner";
import { listStacks, readStack } from "../tools/stacks";
import { ConfigError, parseConfig, PROJECT } from "../infra/config";
import { add, compliant, FOREIGN_KEY, Mutate, opt, remove, set } from "./helpers/fixtures";
import { FIXTURE_MUTATIONS, hubQuotaAndLogin, imageCacheMutations, Mutation } from "./helpers/mutations";
import { awsProvider, check, fixture, PACK, packOf } from "./helpers/policy";
import { runProgram, runStack } from "./helpers/program";

const INSTANCE = "aws:ec2/instance:Instance";
const ROLE = "aws:iam/role:Role";
const RELEASE = "kubernetes:helm.sh/v3:Release";

const by = (rs: RecordedResource[], type: string, name?: string) => {
    const i = rs.findIndex((r) => r.type === type && (name === undefined || r.name === name));
    if (i < 0) throw new Error(`no ${type}${name ? ` ${name}` : ""} in the stack`);
    return i;
};
/** A secret input arrives as { <signature>: <secret marker>, value }; edits go to the value inside. */
const isSecret = (v: any) => !!v && typeof v === "object" && "value" in v && Object.keys(v).length === 2;
const unsecret = (v: any) => (isSecret(v) ? v.value : v);
/** Edits the #cloud-config text inside userDataBase64 (base64 of gzip), as a change to infra/instance/userdata.ts would. */
const userData = (name: string, fn: (text: string) => string): Mutate => set(name, (p) => {
    const text = zlib.gunzipSync(Buffer.from(p.userDataBase64, "base64")).toString("utf8");
    const changed = fn(text);
    if (changed === text) throw new Error(`user data of ${name} unchanged by the mutation`);
    p.userDataBase64 = zlib.gzipSync(Buffer.from(changed, "utf8"), { level: 9 }).toString("base64");
}, INSTANCE);
/** Edits a JSON policy document property of a named resource. */
const doc = (name: string, fn: (d: any) => void, prop = "policy"): Mutate => set(name, (p) => { const d = JSON.parse(unsecret(p[prop])); fn(d); p[prop] = JSON.stringify(d); });
const sid = (d: any, s: string) => {
    const st = d.Statement.find((x: any) => x.Sid === s);
    if (!st) throw new Error(`no statement ${s}`);
    return st;
};
const stmt = (name: string, s: string, fn: (st: any) => void): Mutate => doc(name, (d) => fn(sid(d, s)));
const trust = (name: string, fn: (st: any) => void): Mutate => doc(name, (d) => fn(d.Statement[0]), "assumeRolePolicy");
const providerTags = (fn: (t: Record<string, string>) => void): Mutate => (rs) => {
    const i = by(rs, "pulumi:providers:aws");
    const r = structuredClone(rs[i]);
    const d = JSON.parse(r.rawInputs.defaultTags);
    fn(d.tags);
    r.rawInputs.defaultTags = JSON.stringify(d);
    rs[i] = r;
};
/** The hub's Helm values (a secret input: the OAuth client secret is inside). */
const hub = (fn: (v: any) => void): Mutate => set("archaeo-hub-release", (p) => fn(unsecret(p.values)), RELEASE);
const arnOf = (rs: RecordedResource[], name: string, type = ROLE) => rs[by(rs, type, name)].rawState.arn as string;
const m = (policy: string, what: string, mutate: Mutate): Mutation => ({ policy, what, mutate });
const PABS = ["blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"];
const OTHER_KEY = (key: string) => key.replace(/key\/[0-9a-f]{8}/, "key/00000000");

// ---------------------------------------------------------------------------------------------------
// Instance mode, one researcher (stacks/Pulumi.example.yaml: alice).
const WS = "archaeo-ws-alice";
/** Alice's workspace as restoreFromSnapshot makes it (a snapshotId), then edited. */
const restored = (fn: (p: any) => void): Mutate => set(`${WS}-workspace`, (p) => { p.snapshotId = "snap-0a1b2c3d4e5f60789"; fn(p); });
const EXAMPLE: Mutation[] = [
    // Encryption at rest with the stack key.
    m("ebs-volumes-encrypted-cmk", "workspace volume: encrypted=false", set(`${WS}-workspace`, (p) => { p.encrypted = false; })),
    m("ebs-volumes-encrypted-cmk", "workspace volume: kmsKeyId removed", set(`${WS}-workspace`, (p) => { delete p.kmsKeyId; })),
    m("ebs-volumes-encrypted-cmk", "workspace volume: AWS-managed key", set(`${WS}-workspace`, (p) => { p.kmsKeyId = "alias/aws/ebs"; })),
    m("kms-key-references-stack-key", "workspace volume: a key of another account", set(`${WS}-workspace`, (p) => { p.kmsKeyId = FOREIGN_KEY; })),
    m("kms-key-references-stack-key", "workspace volume: another key of this account", set(`${WS}-workspace`, (p) => { p.kmsKeyId = OTHER_KEY(p.kmsKeyId); })),
    m("ec2-instance-volumes-encrypted-cmk", "root volume: encrypted=false", set(`${WS}-instance`, (p) => { p.rootBlockDevice.encrypted = false; })),
    m("ec2-instance-volumes-encrypted-cmk", "root volume: kmsKeyId removed", set(`${WS}-instance`, (p) => { delete p.rootBlockDevice.kmsKeyId; })),
    m("s3-sse-kms-cmk", "dataset bucket: SSE-S3 instead of KMS", set("archaeo-datasets-sse", (p) => { p.rules[0].applyServerSideEncryptionByDefault = { sseAlgorithm: "AES256" }; })),
    m("s3-sse-kms-cmk", "dataset bucket: KMS key removed", set("archaeo-datasets-sse", (p) => { delete p.rules[0].applyServerSideEncryptionByDefault.kmsMasterKeyId; })),
    m("ssm-secure-parameters-cmk", "Jupyter token: plain String", set(`${WS}-jupyter-token`, (p) => { p.type = "String"; }, "aws:ssm/parameter:Parameter")),
    m("ssm-secure-parameters-cmk", "Jupyter token: AWS-managed key", set(`${WS}-jupyter-token`, (p) => { delete p.keyId; }, "aws:ssm/parameter:Parameter")),
    m("ecr-encrypted-cmk", "ECR: AES256 instead of KMS", set("archaeo-registry-repo", (p) => { p.encryptionConfigurations = [{ encryptionType: "AES256" }]; })),
    m("ecr-scan-on-push", "ECR: scan on push off", set("archaeo-registry-repo", (p) => { p.imageScanningConfiguration.scanOnPush = false; })),
    m("ecr-immutable-tags", "ECR: mutable tags", set("archaeo-registry-repo", (p) => { p.imageTagMutability = "MUTABLE"; })),
    m("kms-key-rotation-enabled", "KMS key: rotation off", set("archaeo-key-cmk", (p) => { p.enableKeyRotation = false; })),
    // Instance metadata and the workstation's user data (userDataBase64: gzip, base64).
    m("ec2-imdsv2-required", "workstation: IMDSv1 allowed", set(`${WS}-instance`, (p) => { p.metadataOptions.httpTokens = "optional"; })),
    m("ec2-imdsv2-required", "workstation: metadata options removed", set(`${WS}-instance`, (p) => { delete p.metadataOptions; })),
    m("ec2-imds-hop-limit", "workstation: hop limit 3", set(`${WS}-instance`, (p) => { p.metadataOptions.httpPutResponseHopLimit = 3; })),
    m("ec2-imds-hop-limit", "workstation: hop limit 1 although its containers need IMDS", set(`${WS}-instance`, (p) => { p.metadataOptions.httpPutResponseHopLimit = 1; })),
    m("ec2-user-data-no-secrets", "user data: Jupyter token inlined", userData(`${WS}-instance`, (s) => s.replace("RESEARCHER_UID=1000", "RESEARCHER_UID=1000\n      JUPYTER_TOKEN=Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0"))),
    m("ec2-user-data-no-secrets", "user data: an AWS access key in the env file", userData(`${WS}-instance`, (s) => s.replace("RESEARCHER_ID=alice", "RESEARCHER_ID=alice\n      AWS_ACCESS_KEY_ID=AKIAABCDEFGHIJKLMNOP"))),
    m("ec2-user-data-no-secrets", "user data: userDataBase64 no longer base64", set(`${WS}-instance`, (p) => { p.userDataBase64 = `#cloud-config\n${p.userDataBase64}`; }, INSTANCE)),
    // The image is read at boot from <ssmPath>/image (user data names it with IMAGE_PARAMETER).
    m("workstation-image-from-stack-ecr", "image parameter: image by tag", set(`${WS}-image`, (p) => { p.value = String(p.value).replace(/@sha256:[0-9a-f]{64}$/, ":latest"); })),
    m("workstation-image-from-stack-ecr", "image parameter: image from Docker Hub", set(`${WS}-image`, (p) => { p.value = `docker.io/pytorch/pytorch@sha256:${"0".repeat(64)}`; })),
    m("workstation-image-from-stack-ecr", "user data: IMAGE_PARAMETER names a parameter the stack does not define", userData(`${WS}-instance`, (s) => s.replace(/^(\s*IMAGE_PARAMETER=\S+)\/image$/m, "$1/other-image"))),
    m("workstation-image-from-stack-ecr", "user data: IMAGE_REF set inline to a public image", userData(`${WS}-instance`, (s) => s.replace(/^(\s*)IMAGE_PARAMETER=\S+$/m, `$1IMAGE_REF=docker.io/pytorch/pytorch@sha256:${"0".repeat(64)}`))),
    m("workstation-image-from-stack-ecr", "user data: a unit runs a public image instead of ${IMAGE_REF}", userData(`${WS}-instance`, (s) => s.replace("${IMAGE_REF} sshd", "linuxserver/openssh-server sshd"))),
    m("ec2-containers-unprivileged", "user data: container as root", userData(`${WS}-instance`, (s) => s.replace("--user 1000:1000", "--user 0:0"))),
    m("ec2-containers-unprivileged", "user data: privileged container", userData(`${WS}-instance`, (s) => s.replace("--cap-drop ALL", "--privileged --cap-drop ALL"))),
    // Network.
    m("security-groups-no-public-ingress", "security group: ingress from 0.0.0.0/0", set("archaeo-network-workstation-sg", (p) => { p.ingress = [{ protocol: "tcp", fromPort: 8888, toPort: 8888, cidrBlocks: ["0.0.0.0/0"] }]; })),
    m("security-groups-no-public-ingress", "security group: ingress from ::/0", set("archaeo-network-workstation-sg", (p) => { p.ingress = [{ protocol: "tcp", fromPort: 2222, toPort: 2222, ipv6CidrBlocks: ["::/0"] }]; })),
    m("security-groups-no-public-ingress", "security group: ingress from 0.0.0.0/1 and 128.0.0.0/1", set("archaeo-network-workstation-sg", (p) => { p.ingress = [{ protocol: "tcp", fromPort: 8888, toPort: 8888, cidrBlocks: ["0.0.0.0/1", "128.0.0.0/1"] }]; })),
    // Buckets.
    m("s3-buckets-fully-configured", "dataset bucket: encryption config removed", remove("archaeo-datasets-sse")),
    ...PABS.map((f) => m("s3-public-access-blocked", `dataset bucket: ${f}=false`, set("archaeo-datasets-pab", (p) => { p[f] = false; }))),
    m("s3-buckets-fully-configured", "dataset bucket: public access block removed", remove("archaeo-datasets-pab")),
    m("s3-buckets-fully-configured", "dataset bucket: versioning suspended", set("archaeo-datasets-versioning", (p) => { p.versioningConfiguration.status = "Suspended"; })),
    m("s3-buckets-fully-configured", "dataset bucket: TLS-only policy removed", remove("archaeo-datasets-policy")),
    m("s3-buckets-fully-configured", "dataset bucket: TLS condition inverted", doc("archaeo-datasets-policy", (d) => { d.Statement.find((s: any) => s.Effect === "Deny" && s.Condition?.Bool).Condition.Bool["aws:SecureTransport"] = "true"; })),
    m("resource-policies-no-public-principals", "dataset bucket policy: public read added", doc("archaeo-datasets-policy", (d) => { d.Statement.push({ Sid: "Public", Effect: "Allow", Principal: "*", Action: "s3:GetObject", Resource: "arn:aws:s3:::x/*" }); })),
    m("resource-policies-no-public-principals", "key policy: grant to * without a condition", doc("archaeo-key-cmk", (d) => { d.Statement.push({ Sid: "Anyone", Effect: "Allow", Principal: { AWS: "*" }, Action: "kms:Decrypt", Resource: "*" }); })),
    m("principals-in-stack-account", "key policy: another account administers the key", doc("archaeo-key-cmk", (d) => { sid(d, "AccountAdministersKey").Principal.AWS = "arn:aws:iam::999999999999:root"; })),
    // The audit trail of dataset access.
    m("s3-dataset-access-logged", "audit: data events off (no event selectors)", set("archaeo-audit-trail", (p) => { delete p.advancedEventSelectors; })),
    m("s3-dataset-access-logged", "audit: management events only", set("archaeo-audit-trail", (p) => { p.advancedEventSelectors[0].fieldSelectors[0].equals = ["Management"]; })),
    m("s3-dataset-access-logged", "audit: reads only (readOnly = true)", set("archaeo-audit-trail", (p) => { p.advancedEventSelectors[0].fieldSelectors.push({ field: "readOnly", equals: ["true"] }); })),
    m("s3-dataset-access-logged", "audit: writes only (readOnly = false)", set("archaeo-audit-trail", (p) => { p.advancedEventSelectors[0].fieldSelectors.push({ field: "readOnly", equals: ["false"] }); })),
    m("s3-dataset-access-logged", "audit: another bucket's objects", set("archaeo-audit-trail", (p) => { p.advancedEventSelectors[0].fieldSelectors[2].startsWiths = ["arn:aws:s3:::other/"]; })),
    m("s3-dataset-access-logged", "audit: log file validation off", set("archaeo-audit-trail", (p) => { p.enableLogFileValidation = false; })),
    m("s3-dataset-access-logged", "audit: logging off", set("archaeo-audit-trail", (p) => { p.enableLogging = false; })),
    m("s3-dataset-access-logged", "audit: log files not SSE-KMS", set("archaeo-audit-trail", (p) => { delete p.kmsKeyId; })),
    m("kms-key-references-stack-key", "audit: log files under a different key", set("archaeo-audit-trail", (p) => { p.kmsKeyId = OTHER_KEY(p.kmsKeyId); })),
    m("s3-dataset-access-logged", "audit: no retention (lifecycle removed)", remove("archaeo-audit-logs-retention")),
    m("s3-dataset-access-logged", "audit: logs expire after 30 days", set("archaeo-audit-logs-retention", (p) => { p.rules[0].expiration.days = 30; })),
    m("s3-dataset-access-logged", "audit: noncurrent log versions purged after a day", set("archaeo-audit-logs-retention", (p) => { p.rules[0].noncurrentVersionExpiration.noncurrentDays = 1; })),
    m("s3-dataset-access-logged", "audit: logs delivered to a bucket outside the stack", set("archaeo-audit-trail", (p) => { p.s3BucketName = "somewhere-else"; })),
    m("s3-dataset-access-logged", "audit: log bucket SSE-S3", set("archaeo-audit-logs-sse", (p) => { p.rules[0].applyServerSideEncryptionByDefault = { sseAlgorithm: "AES256" }; })),
    m("s3-dataset-access-logged", "audit: log bucket not tagged as the audit-log bucket", set("archaeo-audit-logs", (p) => { p.tags = { ...p.tags, "archaeo-purpose": "scratch" }; }, "aws:s3/bucket:Bucket")),
    // The workstation role (acts for alice): scoped IAM, allowed managed policies, service trust.
    m("iam-policies-scoped", "workstation role: object access on Resource *", stmt(`${WS}-policy`, "ReadWriteOwnPrefix", (s) => { s.Resource = "*"; })),
    m("iam-policies-scoped", "workstation role: kms:* on the stack key", stmt(`${WS}-policy`, "StackKeyThroughS3", (s) => { s.Action = "kms:*"; delete s.Condition; })),
    m("iam-policies-scoped", "workstation role: NotAction instead of Action", stmt(`${WS}-policy`, "StackKeyThroughS3", (s) => { s.NotAction = "iam:*"; delete s.Action; })),
    m("iam-policies-scoped", "workstation role: every bucket's objects", stmt(`${WS}-policy`, "ReadSharedDatasets", (s) => { s.Resource = "arn:aws:s3:::*/*"; })),
    m("principals-in-stack-account", "workstation role: parameters of another account", stmt(`${WS}-policy`, "ReadOwnParameters", (s) => { s.Resource = "arn:aws:ssm:us-east-1:999999999999:parameter/x/*"; })),
    m("researcher-roles-scoped", "workstation role: another researcher's prefix", stmt(`${WS}-policy`, "ReadWriteOwnPrefix", (s) => { s.Resource = s.Resource.replace("/researchers/alice/", "/researchers/bob/"); })),
    m("researcher-roles-scoped", "workstation role: another researcher's parameters", stmt(`${WS}-policy`, "ReadOwnParameters", (s) => { s.Resource = s.Resource.replace("/researchers/alice/", "/researchers/bob/"); })),
    m("researcher-roles-scoped", "workstation role: writes to datasets/", stmt(`${WS}-policy`, "ReadSharedDatasets", (s) => { s.Action = ["s3:GetObject", "s3:PutObject"]; })),
    m("researcher-roles-scoped", "workstation role: lists the whole bucket", stmt(`${WS}-policy`, "ListSharedAndOwnPrefixes", (s) => { delete s.Condition; })),
    m("iam-managed-policies-allowlisted", "workstation role: AdministratorAccess attached", set(`${WS}-ssm-core`, (p) => { p.policyArn = "arn:aws:iam::aws:policy/AdministratorAccess"; })),
    m("iam-attachments-match-roles", "workstation role: the DLM service policy attached", (rs) => { set("archaeo-snapshots-dlm-policy", (p) => { p.role = rs[by(rs, ROLE, `${WS}-role`)].rawInputs.name; })(rs); }),
    m("iam-trust-policies-scoped", "workstation role: trusts *", trust(`${WS}-role`, (s) => { s.Principal = { AWS: "*" }; })),
    m("iam-trust-policies-scoped", "workstation role: trusts a user", trust(`${WS}-role`, (s) => { s.Principal = { AWS: "arn:aws:iam::123456789012:user/someone" }; })),
    m("iam-trust-policies-scoped", "DLM role: trusts Lambda", trust("archaeo-snapshots-role", (s) => { s.Principal = { Service: "lambda.amazonaws.com" }; })),
    // Alice's own role: trusted by her principal only, reaching her workstation, token and prefix only.
    m("iam-trust-policies-scoped", "researcher role: trusts the account root", trust("archaeo-researcher-alice-role", (s) => { s.Principal.AWS = "arn:aws:iam::123456789012:root"; })),
    m("iam-trust-policies-scoped", "researcher role: trusts a second principal", trust("archaeo-researcher-alice-role", (s) => { s.Principal.AWS = [s.Principal.AWS, "arn:aws:iam::123456789012:user/bob"]; })),
    m("iam-trust-policies-scoped", "researcher role: trusts *", trust("archaeo-researcher-alice-role", (s) => { s.Principal = "*"; })),
    m("researcher-roles-scoped", "researcher role: starts another instance", stmt("archaeo-researcher-alice-policy", "StartStopOwnWorkstation", (s) => { s.Resource = s.Resource.replace(/i-[0-9a-f]+$/, "i-0b0b0000000000000"); })),
    m("researcher-roles-scoped", "researcher role: starts every instance", stmt("archaeo-researcher-alice-policy", "StartStopOwnWorkstation", (s) => { s.Resource = s.Resource.replace(/i-[0-9a-f]+$/, "*"); })),
    m("researcher-roles-scoped", "researcher role: sessions to every instance", stmt("archaeo-researcher-alice-policy", "SessionsToOwnWorkstationOnly", (s) => { s.Resource[0] = s.Resource[0].replace(/i-[0-9a-f]+$/, "*"); })),
    m("researcher-roles-scoped", "researcher role: another researcher's prefix", stmt("archaeo-researcher-alice-policy", "ReadWriteOwnPrefix", (s) => { s.Resource = s.Resource.replace("/researchers/alice/", "/researchers/bob/"); })),
    m("researcher-roles-scoped", "researcher role: another researcher's token", stmt("archaeo-researcher-alice-policy", "ReadOwnTokenAndStatus", (s) => { s.Resource[0] = s.Resource[0].replace("/researchers/alice/", "/researchers/bob/"); })),
    m("researcher-roles-scoped", "researcher role: ends everyone's sessions", stmt("archaeo-researcher-alice-policy", "EndOwnSessionsOnly", (s) => { delete s.Condition; })),
    m("researcher-roles-scoped", "researcher role: another key", stmt("archaeo-researcher-alice-policy", "StartWithEncryptedVolumes", (s) => { s.Resource = OTHER_KEY(s.Resource); })),
    m("researcher-roles-scoped", "researcher role: a managed policy attached", (rs) => {
        const r = structuredClone(rs[by(rs, "aws:iam/rolePolicyAttachment:RolePolicyAttachment", `${WS}-ssm-core`)]);
        const name = rs[by(rs, ROLE, "archaeo-researcher-alice-role")].rawInputs.name;
        rs.push({ ...r, name: "alice-readonly", urn: `${r.urn}-readonly`, rawInputs: { role: name, policyArn: "arn:aws:iam::aws:policy/ReadOnlyAccess" }, rawState: { role: name, policyArn: "arn:aws:iam::aws:policy/ReadOnlyAccess" } });
    }),
    m("ssm-sessions-no-shell", "researcher role: the shell document allowed", stmt("archaeo-researcher-alice-policy", "SessionsToOwnWorkstationOnly", (s) => { s.Resource.push("arn:aws:ssm:us-east-1::document/SSM-SessionManagerRunShell"); })),
    m("ssm-sessions-no-shell", "researcher role: SessionDocumentAccessCheck removed", stmt("archaeo-researcher-alice-policy", "SessionsToOwnWorkstationOnly", (s) => { delete s.Condition; })),
    m("ssm-sessions-no-shell", "researcher role: every session document", stmt("archaeo-researcher-alice-policy", "SessionsToOwnWorkstationOnly", (s) => { s.Resource = [s.Resource[0], "arn:aws:ssm:us-east-1::document/*"]; })),
    // Protection and tags.
    m("stateful-resources-protected", "protect: workspace volume", opt(`${WS}-workspace`, { protect: false })),
    m("stateful-resources-protected", "protect: dataset bucket", opt("archaeo-datasets", { protect: false }, "aws:s3/bucket:Bucket")),
    m("stateful-resources-protected", "protect: audit-log bucket", opt("archaeo-audit-logs", { protect: false }, "aws:s3/bucket:Bucket")),
    m("stateful-resources-protected", "protect: KMS key", opt("archaeo-key-cmk", { protect: false })),
    // A restored workspace (restoreFromSnapshot, the volume's snapshotId: docs/runbooks.md) is judged as any volume is: its key named
    // (EC2 CreateVolume from a snapshot without KmsKeyId picks one itself), the stack's, protected again and in the daily snapshots.
    m("ebs-volumes-encrypted-cmk", "restored workspace volume: kmsKeyId removed", restored((p) => { delete p.kmsKeyId; })),
    m("ebs-volumes-encrypted-cmk", "restored workspace volume: encrypted=false", restored((p) => { p.encrypted = false; })),
    m("kms-key-references-stack-key", "restored workspace volume: another key of this account", restored((p) => { p.kmsKeyId = OTHER_KEY(p.kmsKeyId); })),
    m("stateful-resources-protected", "restored workspace volume: left unprotected after the restore", (rs) => { restored(() => undefined)(rs); opt(`${WS}-workspace`, { protect: false })(rs); }),
    m("stateful-data-backed-up", "restored workspace volume: out of the daily snapshots", restored((p) => { delete p.tags["archaeo-snapshot"]; })),
    m("required-tags", "root volume: tags removed", set(`${WS}-instance`, (p) => { delete p.rootBlockDevice.tags; })),
    m("required-tags", "tags: provider default tag institution removed", providerTags((t) => { delete t.institution; })),
    m("required-tags", "tags: provider default tag data-classification removed", providerTags((t) => { delete t["data-classification"]; })),
    m("required-tags", "tags: a resource off the tagged provider", (rs) => { const i = by(rs, "aws:ecr/repository:Repository"); rs[i] = { ...rs[i], provider: "" }; }),    // Jupyter never on a public address; the data kept (daily snapshots, images expired only by age).
    m("ec2-containers-publish-loopback", "workstation: Jupyter published on every interface", userData(`${WS}-instance`, (t) => t.replace("-p 127.0.0.1:8888:8888", "-p 8888:8888"))),
    m("security-groups-public-ports-limited", "workstation group: Jupyter open to a public CIDR", (rs) => {
        const sg = rs[by(rs, "aws:ec2/securityGroup:SecurityGroup", "archaeo-network-workstation-sg")];
        const rule = { securityGroupId: sg.rawState.id, ipProtocol: "tcp", fromPort: 8888, toPort: 8888, cidrIpv4: "203.0.113.0/24" };
        rs.push({ ...structuredClone(sg), type: "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", name: "jupyter-in", urn: `${sg.urn}-jupyter-in`, inputs: rule, state: rule, rawInputs: rule, rawState: rule });
    }),
    m("stateful-data-backed-up", "snapshots: the DLM policy disabled", set("archaeo-snapshots-daily", (p) => { p.state = "DISABLED"; })),
    m("stateful-data-backed-up", "workspace volume: snapshot tag removed", set(`${WS}-workspace`, (p) => { delete p.tags["archaeo-snapshot"]; })),
    m("stateful-data-backed-up", "registry: tagged images expired by count", set("archaeo-registry-lifecycle", (p) => { const d = JSON.parse(p.policy); d.rules[1].selection = { tagStatus: "any", countType: "imageCountMoreThan", countNumber: 3 }; p.policy = JSON.stringify(d); })),
    // Retention and deletion (policies/rules/retention.ts).
    m("stateful-data-survives-destroy", "dataset bucket: forceDestroy", set("archaeo-datasets", (p) => { p.forceDestroy = true; }, "aws:s3/bucket:Bucket")),
    // What a teardown (protectData: false) sets, on this protected stack: each must be caught (tools/lifecycle.ts, issue 17).
    m("stateful-data-survives-destroy", "audit bucket: forceDestroy", set("archaeo-audit-logs", (p) => { p.forceDestroy = true; }, "aws:s3/bucket:Bucket")),
    m("stateful-data-survives-destroy", "image repository: forceDelete", set("archaeo-registry-repo", (p) => { p.forceDelete = true; })),
    m("s3-lifecycle-keeps-data", "dataset bucket: a lifecycle rule expiring a researcher's prefix after 90 days", (rs) => {
        const bucket = rs[by(rs, "aws:s3/bucket:Bucket", "archaeo-datasets")].rawInputs.bucket;
        rs.push(fixture("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", "archaeo-datasets-expiry", { bucket, rules: [{ id: "tmp", status: "Enabled", filter: { prefix: "researchers/alice/tmp/" }, expiration: { days: 90 } }] }));
    }),
    m("s3-lifecycle-keeps-data", "audit: noncurrent log versions purged after 7 days", set("archaeo-audit-logs-retention", (p) => { p.rules[0].noncurrentVersionExpiration.noncurrentDays = 7; })),
    m("snapshot-policies-in-volume-region", "snapshots: the DLM policy on a provider of another region", (rs) => {
        const i = by(rs, "pulumi:providers:aws");
        const eu: RecordedResource = { ...structuredClone(rs[i]), urn: `${rs[i].urn}-eu`, name: `${rs[i].name}-eu` };
        eu.rawInputs.region = "eu-west-1"; eu.rawState.region = "eu-west-1";
        rs.push(eu);
        const d = by(rs, "aws:dlm/lifecyclePolicy:LifecyclePolicy", "archaeo-snapshots-daily");
        rs[d] = { ...rs[d], provider: `${eu.urn}::${eu.id}` };
    }),
];

// ---------------------------------------------------------------------------------------------------
// Instance mode, several researchers on one shared Identity Center role told apart by session
// (stacks/Pulumi.uni-archaeology.yaml: pi, phd-tiles, phd-sherds).
const PI = "archaeo-researcher-pi";
const RESEARCHERS: Mutation[] = [
    m("researcher-roles-scoped", "pi's trust: session pin removed (anyone with the shared role may act as pi)", trust(`${PI}-role`, (s) => { delete s.Condition.StringLike; })),
    m("researcher-roles-scoped", "pi's trust: pinned to phd-tiles's session", trust(`${PI}-role`, (s) => { s.Condition.StringLike["aws:userid"] = "*:j.larsen@uni.example"; })),
    m("researcher-roles-scoped", "pi's trust: session pin left open (*)", trust(`${PI}-role`, (s) => { s.Condition.StringLike["aws:userid"] = "*"; })),
    m("iam-trust-policies-scoped", "pi's trust: the account root", trust(`${PI}-role`, (s) => { s.Principal.AWS = "arn:aws:iam::123456789012:root"; })),
    m("researcher-roles-scoped", "pi starts phd-tiles's workstation", (rs) => stmt(`${PI}-policy`, "StartStopOwnWorkstation", (s) => { s.Resource = arnOf(rs, "archaeo-ws-phd-tiles-instance", INSTANCE); })(rs)),
    m("researcher-roles-scoped", "pi opens sessions to phd-tiles's workstation", (rs) => stmt(`${PI}-policy`, "SessionsToOwnWorkstationOnly", (s) => { s.Resource[0] = arnOf(rs, "archaeo-ws-phd-tiles-instance", INSTANCE); })(rs)),
    m("researcher-roles-scoped", "pi starts instances tagged phd-tiles", stmt(`${PI}-policy`, "StartStopOwnWorkstation", (s) => { s.Resource = s.Resource.replace(/i-[0-9a-f]+$/, "*"); s.Condition = { StringEquals: { "aws:ResourceTag/researcher": "phd-tiles" } }; })),
    m("researcher-roles-scoped", "pi reads and writes phd-tiles's prefix", stmt(`${PI}-policy`, "ReadWriteOwnPrefix", (s) => { s.Resource = s.Resource.replace("/researchers/pi/", "/researchers/phd-tiles/"); })),
    m("researcher-roles-scoped", "pi lists phd-tiles's prefix", stmt(`${PI}-policy`, "ListSharedAndOwnPrefixes", (s) => { s.Condition.StringLike["s3:prefix"].push("researchers/phd-tiles/*"); })),
    m("researcher-roles-scoped", "pi reads phd-tiles's Jupyter token", stmt(`${PI}-policy`, "ReadOwnTokenAndStatus", (s) => { s.Resource[0] = s.Resource[0].replace("/researchers/pi/", "/researchers/phd-tiles/"); })),
    m("researcher-roles-scoped", "pi's workstation role reads phd-sherds's prefix", stmt("archaeo-ws-pi-policy", "ReadWriteOwnPrefix", (s) => { s.Resource = s.Resource.replace("/researchers/pi/", "/researchers/phd-sherds/"); })),
    m("researcher-roles-scoped", "pi's workstation role reads phd-sherds's token", stmt("archaeo-ws-pi-policy", "ReadOwnParameters", (s) => { s.Resource = s.Resource.replace("/researchers/pi/", "/researchers/phd-sherds/"); })),
    m("researcher-roles-scoped", "pi's workstation role writes phd-sherds's status", stmt("archaeo-ws-pi-policy", "ReportOwnStatus", (s) => { s.Resource = s.Resource.replace("/researchers/pi/", "/researchers/phd-sherds/"); })),
    m("ssm-sessions-no-shell", "pi may open a shell (SSM-SessionManagerRunShell)", stmt(`${PI}-policy`, "SessionsToOwnWorkstationOnly", (s) => { s.Resource.push("arn:aws:ssm:us-east-1::document/SSM-SessionManagerRunShell"); })),
    m("ssm-sessions-no-shell", "pi's StartSession without SessionDocumentAccessCheck", stmt(`${PI}-policy`, "SessionsToOwnWorkstationOnly", (s) => { delete s.Condition; })),
    m("ec2-imds-hop-limit", "phd-sherds's workstation: hop limit 4", set("archaeo-ws-phd-sherds-instance", (p) => { p.metadataOptions.httpPutResponseHopLimit = 4; })),
    m("ec2-containers-unprivileged", "phd-tiles's workstation: root smoke container", userData("archaeo-ws-phd-tiles-instance", (s) => s.replace(/(archaeo-smoke[\s\S]*?)--user 1000:1000/, "$1--user root"))),
];

// ---------------------------------------------------------------------------------------------------
// Cluster mode (stacks/Pulumi.national-heritage.yaml: imaging-lead, ml-engineer, archivist).
const IL = "archaeo-researcher-imaging-lead";
const ML = "archaeo-researcher-ml-engineer";
const adminEntry = (rs: RecordedResource[]) => rs.find((r) => r.type === "aws:eks/accessEntry:AccessEntry" && r.name.startsWith("archaeo-eks-admin-"))!.name;
const CLUSTER: Mutation[] = [
    m("eks-secrets-encrypted", "EKS: secrets encryption removed", set("archaeo-eks-cluster", (p) => { delete p.encryptionConfig; })),
    m("eks-endpoint-not-public", "EKS: public endpoint without CIDRs", set("archaeo-eks-cluster", (p) => { p.vpcConfig.endpointPublicAccess = true; delete p.vpcConfig.publicAccessCidrs; })),
    m("eks-endpoint-not-public", "EKS: public endpoint open to 0.0.0.0/0", set("archaeo-eks-cluster", (p) => { p.vpcConfig.publicAccessCidrs = ["0.0.0.0/0"]; })),
    m("eks-endpoint-not-public", "EKS: public endpoint open to two /1 halves", set("archaeo-eks-cluster", (p) => { p.vpcConfig.publicAccessCidrs = ["0.0.0.0/1", "128.0.0.0/1"]; })),
    m("eks-endpoint-not-public", "EKS: private endpoint off", set("archaeo-eks-cluster", (p) => { p.vpcConfig.endpointPrivateAccess = false; })),
    m("eks-control-plane-logging", "EKS: audit logs off", set("archaeo-eks-cluster", (p) => { p.enabledClusterLogTypes = ["api"]; })),
    m("cloudwatch-log-groups-cmk", "log group: no KMS key", set("archaeo-eks-logs", (p) => { delete p.kmsKeyId; })),
    m("cloudwatch-log-groups-retained", "log group: control-plane logs kept 30 days", set("archaeo-eks-logs", (p) => { p.retentionInDays = 30; })),
    m("stateful-data-survives-destroy", "backup vault: forceDestroy", set("archaeo-storage-vault", (p) => { p.forceDestroy = true; })),
    m("stateful-data-survives-destroy", "Cognito user pool: deletion protection INACTIVE", set("archaeo-hub-users", (p) => { p.deletionProtection = "INACTIVE"; }, "aws:cognito/userPool:UserPool")),
    m("stateful-data-survives-destroy", "hub-tunnel image repository: forceDelete", set("archaeo-hub-tunnel-repo", (p) => { p.forceDelete = true; })),
    m("stateful-data-survives-destroy", "EFS: replication overwrite protection off", set("archaeo-storage-efs", (p) => { p.protection = { replicationOverwrite: "DISABLED" }; })),
    m("launch-template-volumes-encrypted-cmk", "system nodes: root unencrypted", set("archaeo-eks-system-lt", (p) => { p.blockDeviceMappings[0].ebs.encrypted = "false"; })),
    m("ec2-imdsv2-required", "system nodes: IMDSv1", set("archaeo-eks-system-lt", (p) => { p.metadataOptions.httpTokens = "optional"; })),
    m("ec2-imds-hop-limit", "system nodes: hop limit 2", set("archaeo-eks-system-lt", (p) => { p.metadataOptions.httpPutResponseHopLimit = 2; })),
    m("ec2-instance-volumes-encrypted-cmk", "NAT instance: root unencrypted", set("archaeo-cluster-network-nat", (p) => { p.rootBlockDevice.encrypted = false; })),
    m("ec2-imdsv2-required", "NAT instance: IMDSv1", set("archaeo-cluster-network-nat", (p) => { p.metadataOptions.httpTokens = "optional"; })),
    m("ec2-imds-hop-limit", "NAT instance: hop limit 2", set("archaeo-cluster-network-nat", (p) => { p.metadataOptions.httpPutResponseHopLimit = 2; })),
    m("efs-encrypted-cmk", "EFS: unencrypted", set("archaeo-storage-efs", (p) => { p.encrypted = false; })),
    m("stateful-resources-protected", "EFS: unprotected", opt("archaeo-storage-efs", { protect: false })),
    m("kms-key-references-stack-key", "backup vault: a key of another account", set("archaeo-storage-vault", (p) => { p.kmsKeyArn = FOREIGN_KEY.replace("us-east-1", "us-west-2"); })),
    // Karpenter node classes.
    m("karpenter-nodeclass-secure", "GPU nodes: volumes unencrypted", set("archaeo-gpu-nodeclass-gpu", (p) => { p.spec.blockDeviceMappings[0].ebs.encrypted = false; })),
    m("karpenter-nodeclass-secure", "GPU nodes: IMDSv1", set("archaeo-gpu-nodeclass-gpu", (p) => { p.spec.metadataOptions.httpTokens = "optional"; })),
    m("ec2-imds-hop-limit", "GPU nodes: hop limit 2", set("archaeo-gpu-nodeclass-gpu", (p) => { p.spec.metadataOptions.httpPutResponseHopLimit = 2; })),
    m("ec2-imds-hop-limit", "CPU nodes: hop limit unset", set("archaeo-gpu-nodeclass-cpu", (p) => { delete p.spec.metadataOptions.httpPutResponseHopLimit; })),
    m("kms-key-references-stack-key", "GPU nodes: a key of another account", set("archaeo-gpu-nodeclass-gpu", (p) => { p.spec.blockDeviceMappings[0].ebs.kmsKeyID = FOREIGN_KEY.replace("us-east-1", "us-west-2"); })),
    // GPU isolation: the device plugin passes GPUs as mounts, and GPU nodes' toolkit ignores NVIDIA_VISIBLE_DEVICES from unprivileged pods.
    m("gpu-nodes-isolate-devices", "device plugin: deviceListStrategy removed (the chart's envvar)", set("archaeo-gpu-nvidia-device-plugin", (p) => { delete p.values.deviceListStrategy; })),
    m("gpu-nodes-isolate-devices", "device plugin: deviceListStrategy envvar", set("archaeo-gpu-nvidia-device-plugin", (p) => { p.values.deviceListStrategy = "envvar"; })),
    m("gpu-nodes-isolate-devices", "device plugin: volume-mounts and envvar", set("archaeo-gpu-nvidia-device-plugin", (p) => { p.values.deviceListStrategy = ["volume-mounts", "envvar"]; })),
    m("gpu-nodes-isolate-devices", "device plugin: strategy from a config map the pack cannot read", set("archaeo-gpu-nvidia-device-plugin", (p) => { p.values.config = { name: "plugin-config" }; })),
    m("gpu-nodes-isolate-devices", "GPU nodes: the toolkit still accepts NVIDIA_VISIBLE_DEVICES from unprivileged pods", set("archaeo-gpu-nodeclass-gpu", (p) => { p.spec.userData = p.spec.userData.replace("envvar-when-unprivileged=false \\", "envvar-when-unprivileged=true \\"); })),
    m("gpu-nodes-isolate-devices", "GPU nodes: the volume-mounts flag dropped", set("archaeo-gpu-nodeclass-gpu", (p) => { p.spec.userData = p.spec.userData.replace(/ *--set accept-nvidia-visible-devices-as-volume-mounts=true \\\n/, ""); })),
    m("gpu-nodes-isolate-devices", "GPU nodes: the nvidia-ctk command commented out", set("archaeo-gpu-nodeclass-gpu", (p) => { p.spec.userData = p.spec.userData.replace("if nvidia-ctk", "# nvidia-ctk"); })),
    m("gpu-nodes-isolate-devices", "GPU nodes: no userData", set("archaeo-gpu-nodeclass-gpu", (p) => { delete p.spec.userData; })),
    m("gpu-nodes-isolate-devices", "GPU pool on the CPU node class (no toolkit flags)", set("archaeo-gpu-pool-gpu", (p) => { p.spec.template.spec.nodeClassRef.name = "cpu"; })),
    m("gpu-nodes-isolate-devices", "spot GPU pool on a node class the stack does not define", set("archaeo-gpu-pool-gpu-batch-spot", (p) => { p.spec.template.spec.nodeClassRef.name = "elsewhere"; })),
    // Issue 20: the image cache (national-heritage sets imageCacheSnapshotId).
    ...imageCacheMutations("archaeo-gpu-nodeclass-gpu", FOREIGN_KEY.replace("us-east-1", "us-west-2")),
    m("required-tags", "GPU nodes: spec.tags removed (Karpenter's instances untagged)", set("archaeo-gpu-nodeclass-gpu", (p) => { delete p.spec.tags; })),
    m("required-tags", "CPU nodes: spec.tags without institution", set("archaeo-gpu-nodeclass-cpu", (p) => { delete p.spec.tags.institution; })),
    // Storage: the gp3 class and the static PersistentVolumes (EFS homes, Mountpoint for S3).
    m("k8s-storageclasses-encrypted", "StorageClass: gp3 unencrypted", set("archaeo-storage-gp3", (p) => { p.parameters.encrypted = "false"; })),
    m("k8s-pvcs-on-encrypted-storage", "home PV: on a file system outside the stack", set(`${IL}-pv-server-home`, (p) => { p.spec.csi.volumeHandle = "fs-0123456789abcdef0::fsap-0123456789abcdef0"; })),
    m("k8s-pvcs-on-encrypted-storage", "home PV: on an unencrypted file system", set("archaeo-storage-efs", (p) => { p.encrypted = false; })),
    m("k8s-pvcs-on-encrypted-storage", "mydata PV: on a bucket outside the stack", set(`${IL}-pv-server-mydata`, (p) => { p.spec.csi.volumeAttributes.bucketName = "someone-elses-bucket"; })),
    m("k8s-pvcs-on-encrypted-storage", "datasets PV: on a bucket without SSE-KMS", set("archaeo-datasets-sse", (p) => { p.rules[0].applyServerSideEncryptionByDefault = { sseAlgorithm: "AES256" }; })),
    m("k8s-pvcs-on-encrypted-storage", "home PV: a CSI driver the pack cannot prove encrypted", set(`${ML}-pv-jobs-home`, (p) => { p.spec.csi.driver = "nfs.csi.k8s.io"; })),
    m("k8s-pvcs-on-encrypted-storage", "home PVC: binds a volume outside the stack", set(`${IL}-pvc-server-home`, (p) => { p.spec.volumeName = "someone-elses-volume"; })),
    m("k8s-pvcs-on-encrypted-storage", "home PVC: dynamic on the cluster default class", set(`${IL}-pvc-server-home`, (p) => { delete p.spec.storageClassName; delete p.spec.volumeName; })),
    // Cluster IAM and resource policies.
    m("iam-policies-scoped", "IAM: cluster KMS statement on Resource *", stmt("archaeo-eks-cluster-kms", "SecretsEnvelopeEncryption", (s) => { s.Resource = "*"; })),
    m("iam-policies-scoped", "IAM: Karpenter may pass every role", stmt("archaeo-gpu-controller-policy", "PassNodeRole", (s) => { s.Resource = "arn:aws:iam::123456789012:role/*"; delete s.Condition; })),
    m("resource-policies-no-public-principals", "SQS: interruption queue open to * without the account condition", doc("archaeo-gpu-interruptions-policy", (d) => { d.Statement[0].Principal = "*"; delete d.Statement[0].Condition; })),
    m("principals-in-stack-account", "SQS: interruption queue open to * pinned to another account", doc("archaeo-gpu-interruptions-policy", (d) => { d.Statement[0].Principal = "*"; d.Statement[0].Condition.StringEquals["aws:SourceAccount"] = "999999999999"; })),
    m("researcher-roles-scoped", "pods role: imaging-lead's pods reach ml-engineer's prefix", stmt(`${IL}-pods-policy`, "ReadWriteOwnPrefix", (s) => { s.Resource = s.Resource.replace("/researchers/imaging-lead/", "/researchers/ml-engineer/"); })),
    m("researcher-roles-scoped", "identity role: imaging-lead reaches ml-engineer's prefix", stmt(`${IL}-identity-policy`, "ReadWriteOwnPrefix", (s) => { s.Resource = s.Resource.replace("/researchers/imaging-lead/", "/researchers/ml-engineer/"); })),
    // EKS access entries, Pod Identity, the port-forward guard.
    m("eks-access-entries-scoped", "access entry: imaging-lead mapped to ml-engineer's user", set(`${IL}-access`, (p) => { p.userName = "archaeo:ml-engineer"; })),
    m("eks-access-entries-scoped", "access entry: imaging-lead joins a Kubernetes group", set(`${IL}-access`, (p) => { p.kubernetesGroups = ["hub-admins"]; })),
    m("eks-access-entries-scoped", "access entry: an admin joins system:masters", (rs) => set(adminEntry(rs), (p) => { p.kubernetesGroups = ["system:masters"]; })(rs)),
    m("eks-access-entries-scoped", "access policy: cluster-admin for imaging-lead", (rs) => set(`${adminEntry(rs)}-policy`, (p) => { p.principalArn = arnOf(rs, `${IL}-identity-role`); })(rs)),
    m("eks-pod-identities-match-researcher", "Pod Identity: imaging-lead's server gets ml-engineer's pods role", (rs) => set(`${IL}-pods-server`, (p) => { p.roleArn = arnOf(rs, `${ML}-pods-role`); })(rs)),
    m("eks-pod-identities-match-researcher", "Pod Identity: imaging-lead's jobs get the Karpenter controller role", (rs) => set(`${IL}-pods-jobs`, (p) => { p.roleArn = arnOf(rs, "archaeo-gpu-controller-role"); })(rs)),
    m("k8s-port-forward-own-server", "port-forward guard: warns only", set("archaeo-hub-port-forward-binding", (p) => { p.spec.validationActions = ["Warn"]; })),
    m("k8s-port-forward-own-server", "port-forward guard: fails open", set("archaeo-hub-port-forward-policy", (p) => { p.spec.failurePolicy = "Ignore"; })),
    m("k8s-port-forward-own-server", "port-forward guard: unbound", remove("archaeo-hub-port-forward-binding")),
    m("k8s-resource-quotas-held", "researcher's own Role: deletes the quotas of their namespace (their budget stop)", set(`${IL}-role`, (p) => { p.rules.push({ apiGroups: [""], resources: ["resourcequotas"], verbs: ["delete"] }); })),
    m("k8s-resource-quotas-held", "budget enforcer: may also delete the stop it creates", set("archaeo-budget-enforcer-role-imaging-lead", (p) => { p.rules[0].verbs = ["create", "delete"]; })),
    m("k8s-budget-stop-holds-server", "budget stop: imaging-lead's binding reads ml-engineer's stop (a pairing swapped)", set("archaeo-budget-enforcer-admission-imaging-lead", (p) => { p.spec.paramRef.namespace = "researcher-ml-engineer"; })),
    m("k8s-budget-stop-holds-server", "budget stop: imaging-lead's binding gone", remove("archaeo-budget-enforcer-admission-imaging-lead")),
    m("k8s-budget-stop-holds-server", "budget stop: the admission policy fails open", set("archaeo-budget-enforcer-admission", (p) => { p.spec.failurePolicy = "Ignore"; })),
    // GPU isolation's other layers, and the budget stop's reach (found by an outsider's adversarial round, test/adversarial/cases-*.ts).
    m("k8s-namespaces-pod-security", "imaging-lead's namespace: Pod Security baseline", set(`${IL}-namespace`, (p) => { p.metadata.labels["pod-security.kubernetes.io/enforce"] = "baseline"; })),
    m("k8s-namespaces-pod-security", "the hub's namespace: no Pod Security label", set("archaeo-hub-namespace", (p) => { delete p.metadata.labels["pod-security.kubernetes.io/enforce"]; })),
    m("gpu-pods-no-toolkit-env", "NVIDIA_* policy: fails open", set("archaeo-hub-gpu-env-policy", (p) => { p.spec.failurePolicy = "Ignore"; })),
    m("gpu-pods-no-toolkit-env", "NVIDIA_* policy: warns only", set("archaeo-hub-gpu-env-binding", (p) => { p.spec.validationActions = ["Warn"]; })),
    m("gpu-pods-no-toolkit-env", "NVIDIA_* policy: envFrom check dropped", set("archaeo-hub-gpu-env-policy", (p) => { p.spec.validations.splice(1, 1); })),
    m("gpu-pods-no-toolkit-env", "NVIDIA_* policy: init containers left out", set("archaeo-hub-gpu-env-policy", (p) => { for (const v of p.spec.validations) v.expression = v.expression.replace("object.spec.initContainers.all(c, ", "object.spec.initContainers.all(c, true || "); })),
    m("gpu-pools-capped", "spot GPU pool capped in vCPUs", set("archaeo-gpu-pool-gpu-batch-spot", (p) => { p.spec.limits = { cpu: "64" }; })),
    m("jupyterhub-image-and-gpu-quota", "ml-engineer's quota counts limits.nvidia.com/gpu", set(`${ML}-quota`, (p) => { p.spec.hard = { "limits.nvidia.com/gpu": p.spec.hard["requests.nvidia.com/gpu"] }; })),
    m("jupyterhub-image-and-gpu-quota", "ml-engineer's quota gone", remove(`${ML}-quota`)),
    m("gpu-nodes-isolate-devices", "GPU node script: the flags written to another file", set("archaeo-gpu-nodeclass-gpu", (p) => { p.spec.userData = p.spec.userData.replace("cfg=/etc/nvidia-container-runtime/config.toml", "cfg=/usr/local/nvidia/toolkit/config.toml"); })),
    m("gpu-nodes-isolate-devices", "GPU node script: kubelet unmasked after the block", set("archaeo-gpu-nodeclass-gpu", (p) => { p.spec.userData += "systemctl unmask --runtime kubelet.service\n"; })),
    m("budget-stop-topics-scoped", "stop topics: aws:SourceAccount matched by a pattern", (rs) => {
        for (const r of rs.filter((x) => x.type === "aws:sns/topicPolicy:TopicPolicy")) set(r.name, (p) => {
            const d = JSON.parse(p.policy);
            for (const st of d.Statement) st.Condition = { StringLike: { "aws:SourceAccount": "*" } };
            p.policy = JSON.stringify(d);
        }, r.type)(rs);
    }),
    m("lambda-functions-scoped", "budget enforcer: a service-account token (a JWT) under a harmless name", set("archaeo-budget-enforcer-function", (p) => { p.environment.variables.ARCHAEO_CLUSTER_BEARER = `eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQifQ.${"c".repeat(40)}`; })),
    m("k8s-resource-quotas-held", "imaging-lead may create quotas cluster-wide (stopping the others)", (rs) => {
        add(fixture("kubernetes:rbac.authorization.k8s.io/v1:ClusterRole", "quota-creator", { metadata: { name: "quota-creator" }, rules: [{ apiGroups: [""], resources: ["resourcequotas"], verbs: ["create"] }] }))(rs);
        add(fixture("kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding", "quota-creator", { metadata: { name: "quota-creator" }, roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "quota-creator" }, subjects: [{ apiGroup: "rbac.authorization.k8s.io", kind: "User", name: "archaeo:imaging-lead" }] }))(rs);
    }),
    m("k8s-shared-namespace-no-pod-reads", "budget enforcer: deletes any pod in the hub's namespace (resourceNames dropped)", set("archaeo-budget-enforcer-hub-role", (p) => { delete p.rules[0].resourceNames; })),
    m("k8s-shared-namespace-no-pod-reads", "budget enforcer: deletes researchers' home claims", set("archaeo-budget-enforcer-hub-role", (p) => { p.rules.push({ apiGroups: [""], resources: ["persistentvolumeclaims"], verbs: ["delete"] }); })),
    m("k8s-shared-namespace-no-pod-reads", "hub Role: researchers list the hub's pods (server API tokens in their env)", set(`${IL}-hub-role`, (p) => { p.rules.push({ apiGroups: [""], resources: ["pods"], verbs: ["get", "list"] }); })),
    m("k8s-shared-namespace-no-pod-reads", "hub Role: researchers read the hub's secrets", set(`${IL}-hub-role`, (p) => { p.rules.push({ apiGroups: [""], resources: ["secrets"], verbs: ["get"] }); })),
    m("k8s-shared-namespace-no-pod-reads", "hub Role: get on any pod (resourceNames dropped)", set(`${IL}-hub-role`, (p) => { delete p.rules[0].resourceNames; })),
    m("k8s-images-from-stack-ecr", "hub tunnel: the chart's proxy image straight from quay.io", set("archaeo-hub-tunnel", (p) => { p.spec.template.spec.containers[0].image = `quay.io/jupyterhub/configurable-http-proxy@sha256:${"b".repeat(64)}`; }, "kubernetes:apps/v1:StatefulSet")),
    m("k8s-containers-non-root", "hub tunnel: runs as root", set("archaeo-hub-tunnel", (p) => { p.spec.template.spec.securityContext.runAsUser = 0; }, "kubernetes:apps/v1:StatefulSet")),
    m("k8s-port-forward-own-server", "port-forward guard: bound to another namespace", set("archaeo-hub-port-forward-binding", (p) => { p.spec.matchResources.namespaceSelector.matchLabels["kubernetes.io/metadata.name"] = "default"; })),
    // Helm releases and JupyterHub's values.
    m("helm-releases-pinned-and-unprivileged", "Helm: Karpenter chart version moved", set("archaeo-gpu-karpenter", (p) => { p.version = "1.12.0"; })),
    m("helm-releases-pinned-and-unprivileged", "Helm: JupyterHub chart unpinned", set("archaeo-hub-release", (p) => { delete p.version; })),
    m("helm-releases-pinned-and-unprivileged", "Helm: device plugin from another repository", set("archaeo-gpu-nvidia-device-plugin", (p) => { p.repositoryOpts.repo = "https://example.org/charts"; })),
    m("helm-releases-pinned-and-unprivileged", "Helm: device plugin values privileged", set("archaeo-gpu-nvidia-device-plugin", (p) => { p.values.securityContext = { privileged: true }; })),
    m("helm-releases-pinned-and-unprivileged", "JupyterHub: SSH sidecar privileged", hub((v) => { v.singleuser.extraContainers[0].securityContext.privileged = true; })),
    m("helm-release-images-allowed", "Helm: device plugin image from Docker Hub", set("archaeo-gpu-nvidia-device-plugin", (p) => { p.values.image = { repository: "docker.io/someone/device-plugin", tag: "v1" }; })),
    m("helm-release-images-allowed", "JupyterHub: SSH sidecar image from Docker Hub", hub((v) => { v.singleuser.extraContainers[0].image = "docker.io/linuxserver/openssh-server:latest"; })),
    m("jupyterhub-values-secure", "JupyterHub: dummy authenticator", hub((v) => { v.hub.config.JupyterHub.authenticator_class = "dummy"; })),
    m("jupyterhub-values-secure", "JupyterHub: authenticator unset (the chart's default dummy)", hub((v) => { delete v.hub.config.JupyterHub; })),
    m("jupyterhub-values-secure", "JupyterHub: allow_all", hub((v) => { v.hub.config.GenericOAuthenticator.allow_all = true; })),
    m("jupyterhub-values-secure", "JupyterHub: servers renamed (imaging-lead's budget stop and Role name jupyter-imaging-lead)", hub((v) => { v.singleuser.podNameTemplate = "lab-{username}"; })),
    m("jupyterhub-values-secure", "JupyterHub: single-user servers as uid 0", hub((v) => { v.singleuser.uid = 0; })),
    m("jupyterhub-values-secure", "JupyterHub: privilege escalation allowed", hub((v) => { v.singleuser.allowPrivilegeEscalation = true; })),
    m("jupyterhub-values-secure", "JupyterHub: servers' NetworkPolicy off", hub((v) => { v.singleuser.networkPolicy.enabled = false; })),
    m("jupyterhub-values-secure", "JupyterHub: servers may reach the metadata service", hub((v) => { v.singleuser.networkPolicy.egressAllowRules.cloudMetadataServer = true; })),
    m("jupyterhub-values-secure", "JupyterHub: a profile runs as uid 0", hub((v) => { v.singleuser.profileList[0].kubespawner_override.uid = 0; })),
    m("jupyterhub-values-secure", "JupyterHub: single-user image by tag", hub((v) => { v.singleuser.image.name = v.singleuser.image.name.replace(/@sha256:.*$/, ""); v.singleuser.image.tag = "latest"; })),
    m("jupyterhub-values-secure", "JupyterHub: proxy on a public LoadBalancer", hub((v) => { delete v.proxy.service; })),
    m("jupyterhub-image-and-gpu-quota", "JupyterHub: single-user image from Docker Hub (by digest)", hub((v) => { v.singleuser.image = { name: `docker.io/jupyter/base-notebook@sha256:${"e".repeat(64)}`, tag: "" }; })),
    m("jupyterhub-image-and-gpu-quota", "JupyterHub: a profile's image from quay.io", hub((v) => { v.singleuser.profileList[1].kubespawner_override.image = `quay.io/jupyterhub/k8s-singleuser-sample@sha256:${"e".repeat(64)}`; })),
    ...hubQuotaAndLogin({ quota: "archaeo-hub-gpu-quota", users: "archaeo-hub-users", client: "archaeo-hub-client" }),
    // Shared foundation in this mode too.
    m("kms-key-rotation-enabled", "KMS key: rotation off", set("archaeo-key-cmk", (p) => { p.enableKeyRotation = false; })),
    m("s3-buckets-fully-configured", "dataset bucket: versioning suspended", set("archaeo-datasets-versioning", (p) => { p.versioningConfiguration.status = "Suspended"; })),
    m("s3-dataset-access-logged", "audit: reads only (readOnly = true)", set("archaeo-audit-trail", (p) => { p.advancedEventSelectors[0].fieldSelectors.push({ field: "readOnly", equals: ["true"] }); })),
    m("required-tags", "tags: provider default tags removed", providerTags((t) => { delete t.institution; })),
    // pack-k8s hardening: the same shapes on the program's own resources.
    m("eks-access-entries-scoped", "access policy: an admin's AmazonEKSClusterAdminPolicy becomes AmazonEKSViewPolicy on the hub namespace", (rs) => set(`${adminEntry(rs)}-policy`, (p) => { p.policyArn = p.policyArn.replace("AmazonEKSClusterAdminPolicy", "AmazonEKSViewPolicy"); p.accessScope = { type: "namespace", namespaces: ["jupyterhub"] }; })(rs)),
    m("k8s-shared-namespace-no-pod-reads", "hub Role: imaging-lead may exec into the hub's pods", set(`${IL}-hub-role`, (p) => { p.rules.push({ apiGroups: [""], resources: ["pods/exec"], verbs: ["create"] }); })),
    m("k8s-shared-namespace-no-pod-reads", "hub Role: imaging-lead may create Jobs in the hub namespace", set(`${IL}-hub-role`, (p) => { p.rules.push({ apiGroups: ["batch"], resources: ["jobs"], verbs: ["create"] }); })),
    m("k8s-shared-namespace-no-pod-reads", "hub Role: imaging-lead may patch ConfigMaps (ssh-keys-<id>)", set(`${IL}-hub-role`, (p) => { p.rules.push({ apiGroups: [""], resources: ["configmaps"], verbs: ["patch"] }); })),
    m("k8s-port-forward-own-server", "port-forward guard: validation always true", set("archaeo-hub-port-forward-policy", (p) => { p.spec.validations[0].expression = "true"; })),
    m("k8s-port-forward-own-server", "port-forward guard: matchCondition misspells the user prefix", set("archaeo-hub-port-forward-policy", (p) => { p.spec.matchConditions[0].expression = "request.userInfo.username.startsWith('archeo:')"; })),
    m("jupyterhub-values-secure", "JupyterHub: shared-password authenticator", hub((v) => { v.hub.config.JupyterHub.authenticator_class = "shared-password"; })),
    m("jupyterhub-values-secure", "JupyterHub: a researcher made admin", hub((v) => { v.hub.config.Authenticator.admin_users = ["imaging-lead"]; })),
    m("jupyterhub-values-secure", "JupyterHub: hub.extraConfig", hub((v) => { v.hub.extraConfig = { auth: "c.Authenticator.admin_users = {'imaging-lead'}" }; })),
    m("jupyterhub-values-secure", "JupyterHub: loadRoles grants a researcher access:servers", hub((v) => { v.hub.loadRoles = { lead: { users: ["imaging-lead"], scopes: ["access:servers"] } }; })),    m("stateful-data-backed-up", "homes: the EFS left out of the AWS Backup selection", set("archaeo-storage-selection", (p) => { p.resources = []; })),
    m("stateful-data-backed-up", "homes: backups monthly", set("archaeo-storage-plan", (p) => { p.rules[0].schedule = "cron(0 3 1 * ? *)"; })),
];

/** Known violations next to unknowns: a first preview must still report them (mandatory). */
const PREVIEW: Mutation[] = [
    m("ec2-instance-volumes-encrypted-cmk", "preview: root volume encrypted=false while its key is unknown", set(`${WS}-instance`, (p) => { p.rootBlockDevice.encrypted = false; })),
    m("ebs-volumes-encrypted-cmk", "preview: workspace volume unencrypted while its key is unknown", set(`${WS}-workspace`, (p) => { p.encrypted = false; })),
    m("security-groups-no-public-ingress", "preview: security group ingress from 0.0.0.0/0", set("archaeo-network-workstation-sg", (p) => { p.ingress = [{ protocol: "tcp", fromPort: 8888, toPort: 8888, cidrBlocks: ["0.0.0.0/0"] }]; })),
    m("iam-trust-policies-scoped", "preview: workstation role trusts *", trust(`${WS}-role`, (s) => { s.Principal = { AWS: "*" }; })),
    m("iam-trust-policies-scoped", "preview: researcher role trusts the account root", trust("archaeo-researcher-alice-role", (s) => { s.Principal.AWS = "arn:aws:iam::123456789012:root"; })),
    m("iam-managed-policies-allowlisted", "preview: AdministratorAccess attached", set(`${WS}-ssm-core`, (p) => { p.policyArn = "arn:aws:iam::aws:policy/AdministratorAccess"; })),
    m("ec2-imdsv2-required", "preview: IMDSv1 allowed", set(`${WS}-instance`, (p) => { p.metadataOptions.httpTokens = "optional"; })),
    m("ec2-imds-hop-limit", "preview: workstation hop limit 3 while its user data is unknown", set(`${WS}-instance`, (p) => { p.metadataOptions.httpPutResponseHopLimit = 3; })),
    m("ecr-immutable-tags", "preview: mutable tags", set("archaeo-registry-repo", (p) => { p.imageTagMutability = "MUTABLE"; })),
    m("stateful-resources-protected", "preview: dataset bucket unprotected", opt("archaeo-datasets", { protect: false }, "aws:s3/bucket:Bucket")),
    m("s3-public-access-blocked", "preview: public ACLs allowed", set("archaeo-datasets-pab", (p) => { p.blockPublicAcls = false; })),
    m("ssm-secure-parameters-cmk", "preview: token as a plain String", set(`${WS}-jupyter-token`, (p) => { p.type = "String"; }, "aws:ssm/parameter:Parameter")),
    m("s3-dataset-access-logged", "preview: log file validation off while the selectors are unknown", set("archaeo-audit-trail", (p) => { p.enableLogFileValidation = false; p.advancedEventSelectors = [{ fieldSelectors: [{ field: "eventCategory", equals: ["Data"] }, { field: "resources.type", equals: ["AWS::S3::Object"] }] }]; })),
];
const PREVIEW_CLUSTER: Mutation[] = [
    m("cognito-user-pools-mfa", "preview: Cognito MFA off", set("archaeo-hub-users", (p) => { p.mfaConfiguration = "OFF"; })),
    m("eks-access-entries-scoped", "preview: an admin joins system:masters while role ARNs are unknown", (rs) => set(adminEntry(rs), (p) => { p.kubernetesGroups = ["system:masters"]; })(rs)),
    m("k8s-port-forward-own-server", "preview: port-forward guard warns only", set("archaeo-hub-port-forward-binding", (p) => { p.spec.validationActions = ["Warn"]; })),
    m("eks-endpoint-not-public", "preview: EKS API open to 0.0.0.0/0", set("archaeo-eks-cluster", (p) => { p.vpcConfig.publicAccessCidrs = ["0.0.0.0/0"]; })),
    m("helm-releases-pinned-and-unprivileged", "preview: Karpenter chart version moved", set("archaeo-gpu-karpenter", (p) => { p.version = "1.12.0"; })),
    m("iam-trust-policies-scoped", "preview: pods role trusts Lambda", trust(`${IL}-pods-role`, (s) => { s.Principal = { Service: "lambda.amazonaws.com" }; })),
];

/** Stack config the program must refuse before any resource, naming the key (infra/config/parse.ts, infra/workbench.ts checkAccount). */
interface ConfigMutation { readonly key: string; readonly what: string; readonly stack: string; readonly edit: (raw: Record<string, unknown>) => void }
const k = (key: string) => `${PROJECT}:${key}`;
const CONFIG: ConfigMutation[] = [
    { key: "accessCidrs", what: "SSH open to 0.0.0.0/1 + 128.0.0.0/1 (the internet, not spelled /0)", stack: "city-museum", edit: (r) => { r[k("accessCidrs")] = ["0.0.0.0/1", "128.0.0.0/1"]; } },
    { key: "accessCidrs", what: "SSH open to a public /8", stack: "city-museum", edit: (r) => { r[k("accessCidrs")] = ["52.0.0.0/8"]; } },
    { key: "accessCidrs[0]", what: "SSH open to 0.0.0.0/0", stack: "city-museum", edit: (r) => { r[k("accessCidrs")] = ["0.0.0.0/0"]; } },
    { key: "clusterApiCidrs", what: "Kubernetes API open to two /1 halves", stack: "national-heritage", edit: (r) => { r[k("clusterApiCidrs")] = ["0.0.0.0/1", "128.0.0.0/1"]; } },
    { key: "kmsKeyArn", what: "an existing key of another account", stack: "example", edit: (r) => { r[k("kmsKeyArn")] = FOREIGN_KEY; } },
    { key: "kmsKeyArn", what: "an existing key given by alias", stack: "example", edit: (r) => { r[k("kmsKeyArn")] = "arn:aws:kms:us-east-1:123456789012:alias/archaeo"; } },
    { key: "kmsKeyArn", what: "an existing key in another region", stack: "example", edit: (r) => { r[k("kmsKeyArn")] = FOREIGN_KEY.replace("999999999999", "123456789012").replace("us-east-1", "eu-west-1"); } },
    { key: "backupCopyKmsKeyArn", what: "the backup-copy key of another account", stack: "city-museum", edit: (r) => { r[k("backupCopyKmsKeyArn")] = String(r[k("backupCopyKmsKeyArn")]).replace("123456789012", "999999999999"); } },
    { key: "researchers[0].restoreFromSnapshot", what: "a workspace restored from another account's snapshot, by ARN", stack: "example", edit: (r) => { (r[k("researchers")] as any[])[0].restoreFromSnapshot = "arn:aws:ec2:us-east-1:999999999999:snapshot/snap-0123456789abcdef0"; } },
    { key: "researchers[0].iamPrincipalArn", what: "a researcher's principal in another account", stack: "example", edit: (r) => { (r[k("researchers")] as any[])[0].iamPrincipalArn = "arn:aws:iam::999999999999:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Researcher_0123456789abcdef"; } },
];

/** Caught only when the intended policy reports it: mandatory for a violation, a deferral naming the property for an unknown. */
export function caught(mu: Mutation, r: PolicyRunResult): boolean {
    const hits = r.violations.filter((v) => v.policyName === mu.policy);
    return mu.expect === "deferred"
        ? hits.some((v) => v.deferred && v.enforcementLevel === "advisory" && v.message.includes(mu.path!))
        : hits.some((v) => v.enforcementLevel === "mandatory" && !v.deferred);
}

function scoreLine(label: string, total: number, missed: string[]): void {
    console.log(`      mutation score (${label}): ${total - missed.length}/${total} = ${(((total - missed.length) / total) * 100).toFixed(1)}%${missed.length ? ` (missed: ${missed.join("; ")})` : ""}`);
}

async function score(base: () => RecordedResource[], mutations: readonly Mutation[], label: string, run: (rs: RecordedResource[], only: string) => Promise<PolicyRunResult>): Promise<string[]> {
    const missed: string[] = [];
    for (const mu of mutations) {
        const rs = base();
        mu.mutate(rs);
        // The intended policy alone (helpers/policy.ts packOf): its findings do not depend on the other policies.
        const r = await run(rs, mu.policy);
        if (!caught(mu, r)) missed.push(`${mu.what} (expected ${mu.policy}${mu.expect === "deferred" ? " to defer" : ""}; got ${[...new Set(r.violations.map((v) => `${v.policyName}${v.deferred ? " (deferred)" : ""}`))].join(", ") || "nothing"})`);
    }
    scoreLine(label, mutations.length, missed);
    return missed;
}

const pack = (rs: RecordedResource[], only?: string) => runPolicies(rs, only ? packOf(only) : PACK);
const cluster = () => listStacks().find((s) => readStack(s).raw[k("mode")] === "cluster")!;

describe("mutation test: intended policy must catch each mutation (score must be 100%)", function () {
    // The pack over every stack and over 435 fixture mutations: about 30 s for the largest test on an idle
    // 2-core machine, several times that with other CPU-heavy work beside it.
    this.timeout(300_000);
    // That every stack is clean under the whole pack (no mandatory or advisory violation) is test/plan.test.ts's
    // "prints tree, policies and cost for every stack": each base below is one of them.

    it("the example stack (instance mode, one researcher)", async () => {
        const base = (await runStack("example")).resources;
        assert.deepEqual(await score(() => structuredClone(base), EXAMPLE, "example", pack), []);
    });

    it("the uni-archaeology stack (instance mode, three researchers on one shared role)", async () => {
        const base = (await runStack("uni-archaeology")).resources;
        assert.deepEqual(await score(() => structuredClone(base), RESEARCHERS, "uni-archaeology", pack), []);
    });

    it("the cluster-mode stack", async () => {
        const stack = cluster();
        const base = (await runStack(stack)).resources;
        assert.deepEqual(await score(() => structuredClone(base), CLUSTER, stack, pack), []);
    });

    it("the runner's shortcut changes no finding: each mutation's policy alone, with and without every request sent", async () => {
        // tools/policy-runner.ts reportersFor: no Analyze request for a type no policy of the run can report on.
        // Every 3rd example mutation, every 8th cluster one, every cluster-preview one, and on the fixture stack the first
        // mutation of each policy there (every policy of the pack that one targets): the same findings as the engine's every call.
        const firstOfEach = FIXTURE_MUTATIONS.filter((mu, i) => FIXTURE_MUTATIONS.findIndex((x) => x.policy === mu.policy) === i);
        const sets: Array<[string, RecordedResource[], readonly Mutation[]]> = [
            ["fixtures", [awsProvider(), ...compliant()], firstOfEach],
            ["example", (await runStack("example")).resources, EXAMPLE.filter((_, i) => i % 3 === 0)],
            [cluster(), (await runStack(cluster())).resources, CLUSTER.filter((_, i) => i % 8 === 0)],
            [`${cluster()}, preview`, (await runStack(cluster(), { preview: true })).resources, PREVIEW_CLUSTER],
        ];
        const findings = (r: PolicyRunResult) => r.violations.map((v) => `${v.policyName} ${v.enforcementLevel} ${v.urn} ${v.rawMessage}`).sort();
        let compared = 0;
        let found = 0;
        for (const [label, base, list] of sets) {
            for (const mu of list) {
                const rs = structuredClone(base);
                mu.mutate(rs);
                const quick = findings(await runPolicies(rs, packOf(mu.policy)));
                assert.deepEqual(quick, findings(await runPolicies(rs, packOf(mu.policy), {}, { exhaustive: true })), `${label}: ${mu.what}`);
                compared += 1;
                found += quick.length;
            }
        }
        assert.ok(compared > 50 && found >= compared, `${compared} mutated stacks compared, ${found} findings`);
    });

    it("first previews (instance and cluster): known violations next to unknowns", async () => {
        for (const [stack, list] of [["example", PREVIEW], [cluster(), PREVIEW_CLUSTER]] as const) {
            const base = (await runStack(stack, { preview: true })).resources;
            assert.equal((await pack(base)).mandatory, 0, `${stack}: the unmutated preview has no mandatory violation`);
            assert.deepEqual(await score(() => structuredClone(base), list, `${stack}, preview`, pack), []);
        }
    });

    it("an existing key (kmsKeyArn): the researchers' grants on it are theirs to hold, a grant on another key is still caught", async () => {
        const raw = { ...structuredClone(readStack("example").raw), [k("kmsKeyArn")]: "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab" };
        const base = (await runProgram(parseConfig(raw, { stack: "example", region: readStack("example").region }))).resources;
        assert.equal(base.filter((r) => r.type === "aws:kms/key:Key").length, 0, "the stack defines no key of its own");
        assert.deepEqual((await pack(base)).violations.map((v) => `${v.policyName}: ${v.message}`), [], "clean with the existing key");
        const other: Mutation[] = [
            m("researcher-roles-scoped", "existing key: researcher role grants on another key", stmt("archaeo-researcher-alice-policy", "StartWithEncryptedVolumes", (st) => { st.Resource = OTHER_KEY(st.Resource); })),
            m("researcher-roles-scoped", "existing key: workstation role reads through S3 with another key", stmt(`${WS}-policy`, "StackKeyThroughS3", (st) => { st.Resource = OTHER_KEY(st.Resource); })),
        ];
        assert.deepEqual(await score(() => structuredClone(base), other, "example with kmsKeyArn", pack), []);
    });

    it("stack config: the program refuses breadth and foreign keys before any resource, naming the key", async () => {
        const missed: string[] = [];
        for (const c of CONFIG) {
            const raw = structuredClone(readStack(c.stack).raw);
            c.edit(raw);
            let error: unknown;
            try {
                const cfg = parseConfig(raw, { stack: c.stack, region: readStack(c.stack).region });
                await runProgram(cfg);
            } catch (e) {
                error = e;
            }
            const paths = error instanceof ConfigError ? error.errors.map((x) => x.propertyPath) : [];
            if (!paths.includes(k(c.key))) missed.push(`${c.stack}: ${c.what} (expected a ConfigError naming ${k(c.key)}; got ${error instanceof ConfigError ? paths.join(", ") : error ? String(error) : "no error"})`);
        }
        scoreLine("stack config", CONFIG.length, missed);
        assert.deepEqual(missed, []);
    });

    it("the fixture stack: audit, researchers, cluster access, JupyterHub, Cognito, user data in both forms, IAM semantics, breadth, resource policies, keys, unknowns", async () => {
        assert.equal((await check(compliant())).violations.length, 0, "the compliant fixture stack is clean");
        assert.deepEqual(await score(compliant, FIXTURE_MUTATIONS, "fixtures", (rs, only) => check(rs, {}, only)), [], "mutations the intended policy did not catch");
    });
});
