/**
 * Mutation test: each security-relevant change of what the program (or, for shapes the program does
 * not build yet, the fixture stack) registers must be reported by the policy meant to catch it, not
 * by any policy. Values made unknown must be reported as deferred to `up` by their policy. Known
 * violations must still be caught at preview, next to unknowns. Scores are printed; under 100% fails.
 */
import { strict as assert } from "assert";
import type { RecordedResource } from "../tools/mock-engine";
import { runPolicies, PolicyRunResult } from "../tools/policy-runner";
import { listStacks, readStack } from "../tools/stacks";
import { compliant, FOREIGN_KEY } from "./helpers/fixtures";
import { FIXTURE_MUTATIONS, Mutation } from "./helpers/mutations";
import { check, PACK } from "./helpers/policy";
import { runStack } from "./helpers/program";

type Mutate = (rs: RecordedResource[]) => void;

const by = (rs: RecordedResource[], type: string, name?: string) => {
    const i = rs.findIndex((r) => r.type === type && (name === undefined || r.name === name));
    if (i < 0) throw new Error(`no ${type}${name ? ` ${name}` : ""} in the stack`);
    return i;
};
/** Edits a resource's inputs and outputs alike (what Analyze and AnalyzeStack see). */
const edit = (type: string, fn: (p: any) => void, name?: string): Mutate => (rs) => {
    const i = by(rs, type, name);
    const r = structuredClone(rs[i]);
    fn(r.rawInputs);
    fn(r.rawState);
    rs[i] = r;
};
const named = (name: string, fn: (p: any) => void): Mutate => (rs) => {
    const i = rs.findIndex((r) => r.name === name);
    if (i < 0) throw new Error(`no resource ${name}`);
    edit(rs[i].type, fn, name)(rs);
};
const opt = (type: string, patch: Partial<RecordedResource>): Mutate => (rs) => { const i = by(rs, type); rs[i] = { ...rs[i], ...patch }; };
const drop = (type: string): Mutate => (rs) => { rs.splice(by(rs, type), 1); };
const secret = (v: any) => (v && typeof v === "object" && "value" in v && Object.keys(v).length === 2 ? v.value : v);
const ud = (fn: (s: string) => string) => edit("aws:ec2/instance:Instance", (p) => { p.userData = fn(secret(p.userData)); });
const policyDoc = (type: string, fn: (d: any) => void, prop = "policy", name?: string) => edit(type, (p) => { const d = JSON.parse(secret(p[prop])); fn(d); p[prop] = JSON.stringify(d); }, name);
const sid = (d: any, s: string) => d.Statement.find((x: any) => x.Sid === s);
const providerTags = (fn: (t: Record<string, string>) => void): Mutate => (rs) => {
    const i = by(rs, "pulumi:providers:aws");
    const r = structuredClone(rs[i]);
    const d = JSON.parse(r.rawInputs.defaultTags);
    fn(d.tags);
    r.rawInputs.defaultTags = JSON.stringify(d);
    rs[i] = r;
};
const m = (policy: string, what: string, mutate: Mutate): Mutation => ({ policy, what, mutate });
const podOf = (p: any) => p.spec.template.spec;

const EXAMPLE: Mutation[] = [
    m("ebs-volumes-encrypted-cmk", "workspace volume: encrypted=false", edit("aws:ebs/volume:Volume", (p) => { p.encrypted = false; })),
    m("ebs-volumes-encrypted-cmk", "workspace volume: kmsKeyId removed", edit("aws:ebs/volume:Volume", (p) => { delete p.kmsKeyId; })),
    m("ebs-volumes-encrypted-cmk", "workspace volume: AWS-managed key", edit("aws:ebs/volume:Volume", (p) => { p.kmsKeyId = "alias/aws/ebs"; })),
    m("kms-key-references-stack-key", "workspace volume: a key of another account", edit("aws:ebs/volume:Volume", (p) => { p.kmsKeyId = FOREIGN_KEY; })),
    m("ec2-instance-volumes-encrypted-cmk", "root volume: encrypted=false", edit("aws:ec2/instance:Instance", (p) => { p.rootBlockDevice.encrypted = false; })),
    m("ec2-instance-volumes-encrypted-cmk", "root volume: kmsKeyId removed", edit("aws:ec2/instance:Instance", (p) => { delete p.rootBlockDevice.kmsKeyId; })),
    m("required-tags", "root volume: tags removed", edit("aws:ec2/instance:Instance", (p) => { delete p.rootBlockDevice.tags; })),
    m("ec2-imdsv2-required", "instance: IMDSv1 allowed", edit("aws:ec2/instance:Instance", (p) => { p.metadataOptions.httpTokens = "optional"; })),
    m("ec2-imdsv2-required", "instance: metadata options removed", edit("aws:ec2/instance:Instance", (p) => { delete p.metadataOptions; })),
    m("ec2-imds-hop-limit", "instance: hop limit 3", edit("aws:ec2/instance:Instance", (p) => { p.metadataOptions.httpPutResponseHopLimit = 3; })),
    m("ec2-imds-hop-limit", "instance: hop limit 1 although containers need IMDS", edit("aws:ec2/instance:Instance", (p) => { p.metadataOptions.httpPutResponseHopLimit = 1; })),
    m("ec2-user-data-no-secrets", "user data: Jupyter token inlined", ud((s) => s.replace("RESEARCHER_UID=1000", "RESEARCHER_UID=1000\n      JUPYTER_TOKEN=Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0"))),
    m("workstation-image-from-stack-ecr", "user data: image by tag", ud((s) => s.replace(/^(\s*IMAGE_REF=\S+)@sha256:[0-9a-f]{64}$/m, "$1:latest"))),
    m("workstation-image-from-stack-ecr", "user data: image from Docker Hub", ud((s) => s.replace(/^(\s*)IMAGE_REF=\S+$/m, `$1IMAGE_REF=docker.io/pytorch/pytorch@sha256:${"0".repeat(64)}`))),
    m("ec2-containers-unprivileged", "user data: container as root", ud((s) => s.replace("--user 1000:1000", "--user 0:0"))),
    m("ec2-containers-unprivileged", "user data: privileged container", ud((s) => s.replace("--cap-drop ALL", "--privileged --cap-drop ALL"))),
    m("security-groups-no-public-ingress", "security group: ingress from 0.0.0.0/0", edit("aws:ec2/securityGroup:SecurityGroup", (p) => { p.ingress = [{ protocol: "tcp", fromPort: 8888, toPort: 8888, cidrBlocks: ["0.0.0.0/0"] }]; })),
    m("security-groups-no-public-ingress", "security group: ingress from ::/0", edit("aws:ec2/securityGroup:SecurityGroup", (p) => { p.ingress = [{ protocol: "tcp", fromPort: 2222, toPort: 2222, ipv6CidrBlocks: ["::/0"] }]; })),
    m("security-groups-no-public-ingress", "security group: ingress from 0.0.0.0/1 and 128.0.0.0/1", edit("aws:ec2/securityGroup:SecurityGroup", (p) => { p.ingress = [{ protocol: "tcp", fromPort: 8888, toPort: 8888, cidrBlocks: ["0.0.0.0/1", "128.0.0.0/1"] }]; })),
    m("s3-sse-kms-cmk", "bucket: SSE-S3 instead of KMS", edit("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration", (p) => { p.rules[0].applyServerSideEncryptionByDefault = { sseAlgorithm: "AES256" }; })),
    m("s3-sse-kms-cmk", "bucket: KMS key removed", edit("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration", (p) => { delete p.rules[0].applyServerSideEncryptionByDefault.kmsMasterKeyId; })),
    m("s3-buckets-fully-configured", "bucket: encryption config removed", drop("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration")),
    ...["blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"].map((f) =>
        m("s3-public-access-blocked", `bucket: ${f}=false`, edit("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", (p) => { p[f] = false; }))),
    m("s3-buckets-fully-configured", "bucket: public access block removed", drop("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")),
    m("s3-buckets-fully-configured", "bucket: versioning suspended", edit("aws:s3/bucketVersioning:BucketVersioning", (p) => { p.versioningConfiguration.status = "Suspended"; })),
    m("s3-buckets-fully-configured", "bucket: TLS-only policy removed", drop("aws:s3/bucketPolicy:BucketPolicy")),
    m("s3-buckets-fully-configured", "bucket: TLS condition inverted", policyDoc("aws:s3/bucketPolicy:BucketPolicy", (d) => { d.Statement[0].Condition.Bool["aws:SecureTransport"] = "true"; })),
    m("resource-policies-no-public-principals", "bucket policy: public read added", policyDoc("aws:s3/bucketPolicy:BucketPolicy", (d) => { d.Statement.push({ Sid: "Public", Effect: "Allow", Principal: "*", Action: "s3:GetObject", Resource: `${d.Statement[0].Resource[1]}` }); })),
    m("ecr-encrypted-cmk", "ECR: AES256 instead of KMS", edit("aws:ecr/repository:Repository", (p) => { p.encryptionConfigurations = [{ encryptionType: "AES256" }]; })),
    m("ecr-scan-on-push", "ECR: scan on push off", edit("aws:ecr/repository:Repository", (p) => { p.imageScanningConfiguration.scanOnPush = false; })),
    m("ecr-immutable-tags", "ECR: mutable tags", edit("aws:ecr/repository:Repository", (p) => { p.imageTagMutability = "MUTABLE"; })),
    m("kms-key-rotation-enabled", "KMS key: rotation off", edit("aws:kms/key:Key", (p) => { p.enableKeyRotation = false; })),
    m("resource-policies-no-public-principals", "key policy: grant to * without a condition", policyDoc("aws:kms/key:Key", (d) => { d.Statement.push({ Sid: "Anyone", Effect: "Allow", Principal: { AWS: "*" }, Action: "kms:Decrypt", Resource: "*" }); })),
    m("principals-in-stack-account", "key policy: another account administers the key", policyDoc("aws:kms/key:Key", (d) => { d.Statement[0].Principal.AWS = "arn:aws:iam::999999999999:root"; })),
    m("ssm-secure-parameters-cmk", "SSM token: plain String", edit("aws:ssm/parameter:Parameter", (p) => { p.type = "String"; })),
    m("ssm-secure-parameters-cmk", "SSM token: AWS-managed key", edit("aws:ssm/parameter:Parameter", (p) => { delete p.keyId; })),
    m("iam-policies-scoped", "IAM: S3 statement on Resource *", policyDoc("aws:iam/rolePolicy:RolePolicy", (d) => { sid(d, "DatasetObjectsReadWrite").Resource = "*"; })),
    m("iam-policies-scoped", "IAM: KMS statement kms:*", policyDoc("aws:iam/rolePolicy:RolePolicy", (d) => { sid(d, "UseStackKey").Action = "kms:*"; })),
    m("iam-policies-scoped", "IAM: NotAction instead of Action", policyDoc("aws:iam/rolePolicy:RolePolicy", (d) => { const s = sid(d, "UseStackKey"); s.NotAction = "iam:*"; delete s.Action; })),
    m("iam-policies-scoped", "IAM: every bucket's objects", policyDoc("aws:iam/rolePolicy:RolePolicy", (d) => { sid(d, "DatasetObjectsReadWrite").Resource = "arn:aws:s3:::*/*"; })),
    m("principals-in-stack-account", "IAM: parameters of another account", policyDoc("aws:iam/rolePolicy:RolePolicy", (d) => { sid(d, "ReadOwnParameters").Resource = "arn:aws:ssm:us-east-1:999999999999:parameter/x/*"; })),
    m("iam-managed-policies-allowlisted", "IAM: AdministratorAccess attached to the workstation", edit("aws:iam/rolePolicyAttachment:RolePolicyAttachment", (p) => { p.policyArn = "arn:aws:iam::aws:policy/AdministratorAccess"; }, "archaeo-identity-ssm-core")),
    m("iam-attachments-match-roles", "IAM: the DLM service policy on the workstation role", (rs) => {
        const ws = rs.find((r) => r.name === "archaeo-identity-ssm-core")!;
        named("archaeo-data-dlm-policy", (p) => { p.role = ws.rawInputs.role; })(rs);
    }),
    m("iam-trust-policies-scoped", "IAM: workstation role trusts *", policyDoc("aws:iam/role:Role", (d) => { d.Statement[0].Principal = { AWS: "*" }; }, "assumeRolePolicy", "archaeo-identity-role")),
    m("iam-trust-policies-scoped", "IAM: DLM role trusts Lambda", policyDoc("aws:iam/role:Role", (d) => { d.Statement[0].Principal = { Service: "lambda.amazonaws.com" }; }, "assumeRolePolicy", "archaeo-data-dlm-role")),
    m("stateful-resources-protected", "protect: workspace volume", opt("aws:ebs/volume:Volume", { protect: false })),
    m("stateful-resources-protected", "protect: dataset bucket", opt("aws:s3/bucket:Bucket", { protect: false })),
    m("stateful-resources-protected", "protect: KMS key", opt("aws:kms/key:Key", { protect: false })),
    m("required-tags", "tags: provider default tag institution removed", providerTags((t) => { delete t.institution; })),
    m("required-tags", "tags: provider default tag data-classification removed", providerTags((t) => { delete t["data-classification"]; })),
    m("required-tags", "tags: a resource off the tagged provider", (rs) => { const i = by(rs, "aws:ecr/repository:Repository"); rs[i] = { ...rs[i], provider: "" }; }),
];

const CLUSTER: Mutation[] = [
    m("eks-secrets-encrypted", "EKS: secrets encryption removed", edit("aws:eks/cluster:Cluster", (p) => { delete p.encryptionConfig; })),
    m("eks-endpoint-not-public", "EKS: public endpoint without CIDRs", edit("aws:eks/cluster:Cluster", (p) => { p.vpcConfig.endpointPublicAccess = true; delete p.vpcConfig.publicAccessCidrs; })),
    m("eks-endpoint-not-public", "EKS: public endpoint open to 0.0.0.0/0", edit("aws:eks/cluster:Cluster", (p) => { p.vpcConfig.publicAccessCidrs = ["0.0.0.0/0"]; })),
    m("eks-endpoint-not-public", "EKS: public endpoint open to two /1 halves", edit("aws:eks/cluster:Cluster", (p) => { p.vpcConfig.publicAccessCidrs = ["0.0.0.0/1", "128.0.0.0/1"]; })),
    m("eks-endpoint-not-public", "EKS: private endpoint off", edit("aws:eks/cluster:Cluster", (p) => { p.vpcConfig.endpointPrivateAccess = false; })),
    m("eks-control-plane-logging", "EKS: audit logs off", edit("aws:eks/cluster:Cluster", (p) => { p.enabledClusterLogTypes = ["api"]; })),
    m("cloudwatch-log-groups-cmk", "log group: no KMS key", edit("aws:cloudwatch/logGroup:LogGroup", (p) => { delete p.kmsKeyId; })),
    m("launch-template-volumes-encrypted-cmk", "system nodes: root unencrypted", edit("aws:ec2/launchTemplate:LaunchTemplate", (p) => { p.blockDeviceMappings[0].ebs.encrypted = "false"; })),
    m("ec2-imdsv2-required", "system nodes: IMDSv1", edit("aws:ec2/launchTemplate:LaunchTemplate", (p) => { p.metadataOptions.httpTokens = "optional"; })),
    m("ec2-imds-hop-limit", "system nodes: hop limit 2", edit("aws:ec2/launchTemplate:LaunchTemplate", (p) => { p.metadataOptions.httpPutResponseHopLimit = 2; })),
    m("ec2-instance-volumes-encrypted-cmk", "NAT instance: root unencrypted", edit("aws:ec2/instance:Instance", (p) => { p.rootBlockDevice.encrypted = false; })),
    m("ec2-imdsv2-required", "NAT instance: IMDSv1", edit("aws:ec2/instance:Instance", (p) => { p.metadataOptions.httpTokens = "optional"; })),
    m("ec2-imds-hop-limit", "NAT instance: hop limit 2", edit("aws:ec2/instance:Instance", (p) => { p.metadataOptions.httpPutResponseHopLimit = 2; })),
    m("efs-encrypted-cmk", "EFS: unencrypted", edit("aws:efs/fileSystem:FileSystem", (p) => { p.encrypted = false; })),
    m("stateful-resources-protected", "EFS: unprotected", opt("aws:efs/fileSystem:FileSystem", { protect: false })),
    m("karpenter-nodeclass-secure", "GPU nodes: volumes unencrypted", edit("kubernetes:karpenter.k8s.aws/v1:EC2NodeClass", (p) => { p.spec.blockDeviceMappings[0].ebs.encrypted = false; })),
    m("karpenter-nodeclass-secure", "GPU nodes: IMDSv1", edit("kubernetes:karpenter.k8s.aws/v1:EC2NodeClass", (p) => { p.spec.metadataOptions.httpTokens = "optional"; })),
    m("ec2-imds-hop-limit", "GPU nodes: hop limit 2", edit("kubernetes:karpenter.k8s.aws/v1:EC2NodeClass", (p) => { p.spec.metadataOptions.httpPutResponseHopLimit = 2; })),
    m("kms-key-references-stack-key", "GPU nodes: a key of another account", edit("kubernetes:karpenter.k8s.aws/v1:EC2NodeClass", (p) => { p.spec.blockDeviceMappings[0].ebs.kmsKeyID = FOREIGN_KEY; })),
    m("k8s-containers-non-root", "Jupyter: runAsNonRoot removed (pod and container)", named("archaeo-k8s-workbench-jupyter", (p) => { delete podOf(p).securityContext.runAsNonRoot; delete podOf(p).containers[0].securityContext.runAsNonRoot; })),
    m("k8s-containers-non-root", "Jupyter: uid 0", named("archaeo-k8s-workbench-jupyter", (p) => { podOf(p).containers[0].securityContext = { ...podOf(p).containers[0].securityContext, runAsUser: 0 }; })),
    m("k8s-no-privileged", "SSH: privileged", named("archaeo-k8s-workbench-sshd", (p) => { podOf(p).containers[0].securityContext.privileged = true; })),
    m("k8s-no-privileged", "SSH: privilege escalation", named("archaeo-k8s-workbench-sshd", (p) => { podOf(p).containers[0].securityContext.allowPrivilegeEscalation = true; })),
    m("k8s-images-pinned-by-digest", "TensorBoard: image by tag", named("archaeo-k8s-workbench-tensorboard", (p) => { podOf(p).containers[0].image = podOf(p).containers[0].image.replace(/@sha256:.*/, ":latest"); })),
    m("k8s-images-from-stack-ecr", "Jupyter: image from Docker Hub", named("archaeo-k8s-workbench-jupyter", (p) => { podOf(p).containers[0].image = `docker.io/jupyter/base@sha256:${"1".repeat(64)}`; })),
    m("k8s-gpu-limits", "Jupyter: GPU requested without a limit", named("archaeo-k8s-workbench-jupyter", (p) => { delete podOf(p).containers[0].resources.limits; })),
    m("k8s-gpu-limits", "SSH: on the GPU taint without co-location", named("archaeo-k8s-workbench-sshd", (p) => { delete podOf(p).affinity; })),
    m("k8s-loadbalancer-source-ranges", "Service: LoadBalancer without source ranges", named("archaeo-k8s-workbench-sshd-svc", (p) => { p.spec.type = "LoadBalancer"; })),
    m("k8s-loadbalancer-source-ranges", "Service: LoadBalancer open to ::/0", named("archaeo-k8s-workbench-jupyter-svc", (p) => { p.spec.type = "LoadBalancer"; p.spec.loadBalancerSourceRanges = ["::/0"]; })),
    m("k8s-storageclasses-encrypted", "StorageClass: gp3 unencrypted", named("archaeo-storage-gp3", (p) => { p.parameters.encrypted = "false"; })),
    m("k8s-pvcs-on-encrypted-storage", "PVC: workspace on the cluster default class", named("archaeo-storage-workspace", (p) => { delete p.spec.storageClassName; })),
    m("iam-policies-scoped", "IAM: cluster KMS statement on Resource *", policyDoc("aws:iam/rolePolicy:RolePolicy", (d) => { if (d.Statement[0].Sid === "SecretsEnvelopeEncryption") d.Statement[0].Resource = "*"; })),
    m("iam-policies-scoped", "IAM: Karpenter may pass every role", (rs) => {
        const i = rs.findIndex((r) => r.name === "archaeo-gpu-controller-policy");
        policyDoc(rs[i].type, (d) => { sid(d, "PassNodeRole").Resource = "arn:aws:iam::123456789012:role/*"; delete sid(d, "PassNodeRole").Condition; }, "policy", rs[i].name)(rs);
    }),
    m("resource-policies-no-public-principals", "SQS: interruption queue open to *", policyDoc("aws:sqs/queuePolicy:QueuePolicy", (d) => { d.Statement[0].Principal = "*"; })),
    m("helm-releases-pinned-and-unprivileged", "Helm: Karpenter chart version moved", named("archaeo-gpu-karpenter", (p) => { p.version = "1.12.0"; })),
    m("helm-releases-pinned-and-unprivileged", "Helm: device plugin from another repository", named("archaeo-gpu-nvidia-device-plugin", (p) => { p.repositoryOpts.repo = "https://example.org/charts"; })),
    m("helm-releases-pinned-and-unprivileged", "Helm: device plugin values privileged", named("archaeo-gpu-nvidia-device-plugin", (p) => { p.values.securityContext = { privileged: true }; })),
    m("helm-release-images-allowed", "Helm: device plugin image from Docker Hub", named("archaeo-gpu-nvidia-device-plugin", (p) => { p.values.image = { repository: "docker.io/someone/device-plugin", tag: "v1" }; })),
    m("kms-key-rotation-enabled", "KMS key: rotation off", edit("aws:kms/key:Key", (p) => { p.enableKeyRotation = false; })),
    m("s3-buckets-fully-configured", "bucket: versioning suspended", edit("aws:s3/bucketVersioning:BucketVersioning", (p) => { p.versioningConfiguration.status = "Suspended"; })),
    m("required-tags", "tags: provider default tags removed", providerTags((t) => { delete t.institution; })),
];

/** Known violations next to unknowns: a first preview must still report them (mandatory). */
const PREVIEW: Mutation[] = [
    m("ec2-instance-volumes-encrypted-cmk", "preview: root volume encrypted=false while its key is unknown", edit("aws:ec2/instance:Instance", (p) => { p.rootBlockDevice.encrypted = false; })),
    m("ebs-volumes-encrypted-cmk", "preview: workspace volume unencrypted while its key is unknown", edit("aws:ebs/volume:Volume", (p) => { p.encrypted = false; })),
    m("security-groups-no-public-ingress", "preview: security group ingress from 0.0.0.0/0", edit("aws:ec2/securityGroup:SecurityGroup", (p) => { p.ingress = [{ protocol: "tcp", fromPort: 8888, toPort: 8888, cidrBlocks: ["0.0.0.0/0"] }]; })),
    m("iam-trust-policies-scoped", "preview: workstation role trusts *", policyDoc("aws:iam/role:Role", (d) => { d.Statement[0].Principal = { AWS: "*" }; }, "assumeRolePolicy", "archaeo-identity-role")),
    m("iam-managed-policies-allowlisted", "preview: AdministratorAccess attached", edit("aws:iam/rolePolicyAttachment:RolePolicyAttachment", (p) => { p.policyArn = "arn:aws:iam::aws:policy/AdministratorAccess"; }, "archaeo-identity-ssm-core")),
    m("ec2-imdsv2-required", "preview: IMDSv1 allowed", edit("aws:ec2/instance:Instance", (p) => { p.metadataOptions.httpTokens = "optional"; })),
    m("ecr-immutable-tags", "preview: mutable tags", edit("aws:ecr/repository:Repository", (p) => { p.imageTagMutability = "MUTABLE"; })),
    m("stateful-resources-protected", "preview: bucket unprotected", opt("aws:s3/bucket:Bucket", { protect: false })),
    m("s3-public-access-blocked", "preview: public ACLs allowed", edit("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", (p) => { p.blockPublicAcls = false; })),
    m("ssm-secure-parameters-cmk", "preview: token as a plain String", edit("aws:ssm/parameter:Parameter", (p) => { p.type = "String"; })),
];

/** Caught only when the intended policy reports it: mandatory for a violation, a deferral naming the property for an unknown. */
export function caught(mu: Mutation, r: PolicyRunResult): boolean {
    const hits = r.violations.filter((v) => v.policyName === mu.policy);
    return mu.expect === "deferred"
        ? hits.some((v) => v.deferred && v.enforcementLevel === "advisory" && v.message.includes(mu.path!))
        : hits.some((v) => v.enforcementLevel === "mandatory" && !v.deferred);
}

async function score(base: () => RecordedResource[], mutations: readonly Mutation[], label: string, run: (rs: RecordedResource[]) => Promise<PolicyRunResult>): Promise<string[]> {
    const missed: string[] = [];
    for (const mu of mutations) {
        const rs = base();
        mu.mutate(rs);
        const r = await run(rs);
        if (!caught(mu, r)) missed.push(`${mu.what} (expected ${mu.policy}${mu.expect === "deferred" ? " to defer" : ""}; got ${[...new Set(r.violations.map((v) => `${v.policyName}${v.deferred ? " (deferred)" : ""}`))].join(", ") || "nothing"})`);
    }
    const total = mutations.length;
    console.log(`      mutation score (${label}): ${total - missed.length}/${total} = ${(((total - missed.length) / total) * 100).toFixed(1)}%${missed.length ? ` (missed: ${missed.join("; ")})` : ""}`);
    return missed;
}

const pack = (rs: RecordedResource[]) => runPolicies(rs, PACK);

describe("mutation test: intended policy must catch each mutation (score must be 100%)", () => {
    it("every stack in stacks/ is clean under the pack with resolved values", async () => {
        for (const stack of listStacks()) {
            const r = await pack((await runStack(stack)).resources);
            assert.deepEqual(r.violations.map((v) => `${v.policyName}: ${v.message}`), [], stack);
        }
    });

    it("the example stack (instance mode)", async () => {
        const base = (await runStack("example")).resources;
        assert.deepEqual(await score(() => structuredClone(base), EXAMPLE, "example", pack), []);
    });

    it("the cluster-mode stack", async () => {
        const stack = listStacks().find((s) => readStack(s).raw["archaeo-workbench:mode"] === "cluster")!;
        const base = (await runStack(stack)).resources;
        assert.deepEqual(await score(() => structuredClone(base), CLUSTER, stack, pack), []);
    });

    it("the example stack at a first preview: known violations next to unknowns", async () => {
        const base = (await runStack("example", { preview: true })).resources;
        assert.equal((await pack(base)).mandatory, 0, "the unmutated preview has no mandatory violation");
        assert.deepEqual(await score(() => structuredClone(base), PREVIEW, "example, preview", pack), []);
    });

    it("the fixture stack: audit, researchers, JupyterHub, Cognito, IAM semantics, breadth, resource policies, keys, unknowns", async () => {
        assert.equal((await check(compliant())).violations.length, 0, "the compliant fixture stack is clean");
        assert.deepEqual(await score(compliant, FIXTURE_MUTATIONS, "fixtures", check), [], "mutations the intended policy did not catch");
    });
});
