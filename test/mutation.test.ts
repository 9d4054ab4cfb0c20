/**
 * Mutation test over the whole example stack: each security-relevant input of what the program
 * registered is flipped, and the pack must catch every flip with a mandatory policy. The score is
 * printed; anything under 100% fails.
 */
import { strict as assert } from "assert";
import type { RecordedResource } from "../tools/mock-engine";
import { runPolicies } from "../tools/policy-runner";
import { resourcePolicies, stackValidationPolicies } from "../policies/rules";
import { listStacks, readStack } from "../tools/stacks";
import { runStack } from "./helpers/program";

type Mutate = (rs: RecordedResource[]) => void;
const PACK = { resource: resourcePolicies, stack: stackValidationPolicies };

const by = (rs: RecordedResource[], type: string) => {
    const i = rs.findIndex((r) => r.type === type);
    if (i < 0) throw new Error(`no ${type} in the stack`);
    return i;
};
/** Edits a resource's inputs and state alike (what analyze and analyzeStack see). */
const edit = (type: string, fn: (p: any) => void): Mutate => (rs) => {
    const i = by(rs, type);
    const r = structuredClone(rs[i]);
    fn(r.rawInputs);
    fn(r.rawState);
    rs[i] = r;
};
const opt = (type: string, patch: Partial<RecordedResource>): Mutate => (rs) => { const i = by(rs, type); rs[i] = { ...rs[i], ...patch }; };
const drop = (type: string): Mutate => (rs) => { rs.splice(by(rs, type), 1); };
const secret = (v: any) => (v && typeof v === "object" && "value" in v && Object.keys(v).length === 2 ? v.value : v);
const ud = (fn: (s: string) => string) => edit("aws:ec2/instance:Instance", (p) => { p.userData = fn(secret(p.userData)); });
const policyDoc = (type: string, fn: (d: any) => void) => edit(type, (p) => { const d = JSON.parse(secret(p.policy)); fn(d); p.policy = JSON.stringify(d); });
const providerTags = (fn: (t: Record<string, string>) => void): Mutate => (rs) => {
    const i = by(rs, "pulumi:providers:aws");
    const r = structuredClone(rs[i]);
    const d = JSON.parse(r.rawInputs.defaultTags);
    fn(d.tags);
    r.rawInputs.defaultTags = JSON.stringify(d);
    rs[i] = r;
};

const MUTATIONS: Record<string, Mutate> = {
    "workspace volume: encrypted=false": edit("aws:ebs/volume:Volume", (p) => { p.encrypted = false; }),
    "workspace volume: kmsKeyId removed": edit("aws:ebs/volume:Volume", (p) => { delete p.kmsKeyId; }),
    "workspace volume: AWS-managed key": edit("aws:ebs/volume:Volume", (p) => { p.kmsKeyId = "alias/aws/ebs"; }),
    "root volume: encrypted=false": edit("aws:ec2/instance:Instance", (p) => { p.rootBlockDevice.encrypted = false; }),
    "root volume: kmsKeyId removed": edit("aws:ec2/instance:Instance", (p) => { delete p.rootBlockDevice.kmsKeyId; }),
    "root volume: tags removed": edit("aws:ec2/instance:Instance", (p) => { delete p.rootBlockDevice.tags; }),
    "instance: IMDSv1 allowed": edit("aws:ec2/instance:Instance", (p) => { p.metadataOptions.httpTokens = "optional"; }),
    "instance: metadata options removed": edit("aws:ec2/instance:Instance", (p) => { delete p.metadataOptions; }),
    "user data: Jupyter token inlined": ud((s) => s.replace("RESEARCHER_UID=1000", "RESEARCHER_UID=1000\n      JUPYTER_TOKEN=Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0")),
    "user data: image by tag": ud((s) => s.replace(/^(\s*IMAGE_REF=\S+)@sha256:[0-9a-f]{64}$/m, "$1:latest")),
    "user data: image from Docker Hub": ud((s) => s.replace(/^(\s*)IMAGE_REF=\S+$/m, `$1IMAGE_REF=docker.io/pytorch/pytorch@sha256:${"0".repeat(64)}`)),
    "user data: container as root": ud((s) => s.replace("--user 1000:1000", "--user 0:0")),
    "user data: privileged container": ud((s) => s.replace("--cap-drop ALL", "--privileged --cap-drop ALL")),
    "security group: ingress from 0.0.0.0/0": edit("aws:ec2/securityGroup:SecurityGroup", (p) => { p.ingress = [{ protocol: "tcp", fromPort: 8888, toPort: 8888, cidrBlocks: ["0.0.0.0/0"] }]; }),
    "security group: ingress from ::/0": edit("aws:ec2/securityGroup:SecurityGroup", (p) => { p.ingress = [{ protocol: "tcp", fromPort: 2222, toPort: 2222, ipv6CidrBlocks: ["::/0"] }]; }),
    "bucket: SSE-S3 instead of KMS": edit("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration", (p) => { p.rules[0].applyServerSideEncryptionByDefault = { sseAlgorithm: "AES256" }; }),
    "bucket: KMS key removed": edit("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration", (p) => { delete p.rules[0].applyServerSideEncryptionByDefault.kmsMasterKeyId; }),
    "bucket: encryption config removed": drop("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"),
    "bucket: blockPublicAcls=false": edit("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", (p) => { p.blockPublicAcls = false; }),
    "bucket: blockPublicPolicy=false": edit("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", (p) => { p.blockPublicPolicy = false; }),
    "bucket: ignorePublicAcls=false": edit("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", (p) => { p.ignorePublicAcls = false; }),
    "bucket: restrictPublicBuckets=false": edit("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", (p) => { p.restrictPublicBuckets = false; }),
    "bucket: public access block removed": drop("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"),
    "bucket: versioning suspended": edit("aws:s3/bucketVersioning:BucketVersioning", (p) => { p.versioningConfiguration.status = "Suspended"; }),
    "bucket: TLS-only policy removed": drop("aws:s3/bucketPolicy:BucketPolicy"),
    "bucket: TLS condition inverted": policyDoc("aws:s3/bucketPolicy:BucketPolicy", (d) => { d.Statement[0].Condition.Bool["aws:SecureTransport"] = "true"; }),
    "ECR: AES256 instead of KMS": edit("aws:ecr/repository:Repository", (p) => { p.encryptionConfigurations = [{ encryptionType: "AES256" }]; }),
    "ECR: scan on push off": edit("aws:ecr/repository:Repository", (p) => { p.imageScanningConfiguration.scanOnPush = false; }),
    "ECR: mutable tags": edit("aws:ecr/repository:Repository", (p) => { p.imageTagMutability = "MUTABLE"; }),
    "KMS key: rotation off": edit("aws:kms/key:Key", (p) => { p.enableKeyRotation = false; }),
    "SSM token: plain String": edit("aws:ssm/parameter:Parameter", (p) => { p.type = "String"; }),
    "SSM token: AWS-managed key": edit("aws:ssm/parameter:Parameter", (p) => { delete p.keyId; }),
    "IAM: S3 statement on Resource *": policyDoc("aws:iam/rolePolicy:RolePolicy", (d) => { d.Statement.find((s: any) => s.Sid === "DatasetObjectsReadWrite").Resource = "*"; }),
    "IAM: KMS statement kms:*": policyDoc("aws:iam/rolePolicy:RolePolicy", (d) => { d.Statement.find((s: any) => s.Sid === "UseStackKey").Action = "kms:*"; }),
    "protect: workspace volume": opt("aws:ebs/volume:Volume", { protect: false }),
    "protect: dataset bucket": opt("aws:s3/bucket:Bucket", { protect: false }),
    "protect: KMS key": opt("aws:kms/key:Key", { protect: false }),
    "tags: provider default tag institution removed": providerTags((t) => { delete t.institution; }),
    "tags: provider default tag data-classification removed": providerTags((t) => { delete t["data-classification"]; }),
    "tags: a resource off the tagged provider": (rs) => { const i = by(rs, "aws:ecr/repository:Repository"); rs[i] = { ...rs[i], provider: "" }; },
};

/** Edits one named resource's inputs and state alike. */
const editNamed = (name: string, fn: (p: any) => void): Mutate => (rs) => {
    const i = rs.findIndex((r) => r.name === name);
    if (i < 0) throw new Error(`no resource ${name}`);
    const r = structuredClone(rs[i]);
    fn(r.rawInputs);
    fn(r.rawState);
    rs[i] = r;
};
const podOf = (p: any) => p.spec.template.spec;

const CLUSTER_MUTATIONS: Record<string, Mutate> = {
    "EKS: secrets encryption removed": edit("aws:eks/cluster:Cluster", (p) => { delete p.encryptionConfig; }),
    "EKS: public endpoint without CIDRs": edit("aws:eks/cluster:Cluster", (p) => { p.vpcConfig.endpointPublicAccess = true; delete p.vpcConfig.publicAccessCidrs; }),
    "EKS: public endpoint open to 0.0.0.0/0": edit("aws:eks/cluster:Cluster", (p) => { p.vpcConfig.publicAccessCidrs = ["0.0.0.0/0"]; }),
    "EKS: private endpoint off": edit("aws:eks/cluster:Cluster", (p) => { p.vpcConfig.endpointPrivateAccess = false; }),
    "EKS: audit logs off": edit("aws:eks/cluster:Cluster", (p) => { p.enabledClusterLogTypes = ["api"]; }),
    "log group: no KMS key": edit("aws:cloudwatch/logGroup:LogGroup", (p) => { delete p.kmsKeyId; }),
    "system nodes: root unencrypted": edit("aws:ec2/launchTemplate:LaunchTemplate", (p) => { p.blockDeviceMappings[0].ebs.encrypted = "false"; }),
    "system nodes: IMDSv1": edit("aws:ec2/launchTemplate:LaunchTemplate", (p) => { p.metadataOptions.httpTokens = "optional"; }),
    "NAT instance: root unencrypted": edit("aws:ec2/instance:Instance", (p) => { p.rootBlockDevice.encrypted = false; }),
    "NAT instance: IMDSv1": edit("aws:ec2/instance:Instance", (p) => { p.metadataOptions.httpTokens = "optional"; }),
    "EFS: unencrypted": edit("aws:efs/fileSystem:FileSystem", (p) => { p.encrypted = false; }),
    "EFS: unprotected": opt("aws:efs/fileSystem:FileSystem", { protect: false }),
    "GPU nodes: volumes unencrypted": edit("kubernetes:karpenter.k8s.aws/v1:EC2NodeClass", (p) => { p.spec.blockDeviceMappings[0].ebs.encrypted = false; }),
    "GPU nodes: IMDSv1": edit("kubernetes:karpenter.k8s.aws/v1:EC2NodeClass", (p) => { p.spec.metadataOptions.httpTokens = "optional"; }),
    "Jupyter: runAsNonRoot removed (pod and container)": editNamed("archaeo-k8s-workbench-jupyter", (p) => { delete podOf(p).securityContext.runAsNonRoot; delete podOf(p).containers[0].securityContext.runAsNonRoot; }),
    "Jupyter: uid 0": editNamed("archaeo-k8s-workbench-jupyter", (p) => { podOf(p).containers[0].securityContext = { ...podOf(p).containers[0].securityContext, runAsUser: 0 }; }),
    "SSH: privileged": editNamed("archaeo-k8s-workbench-sshd", (p) => { podOf(p).containers[0].securityContext.privileged = true; }),
    "SSH: privilege escalation": editNamed("archaeo-k8s-workbench-sshd", (p) => { podOf(p).containers[0].securityContext.allowPrivilegeEscalation = true; }),
    "TensorBoard: image by tag": editNamed("archaeo-k8s-workbench-tensorboard", (p) => { podOf(p).containers[0].image = podOf(p).containers[0].image.replace(/@sha256:.*/, ":latest"); }),
    "Jupyter: image from Docker Hub": editNamed("archaeo-k8s-workbench-jupyter", (p) => { podOf(p).containers[0].image = `docker.io/jupyter/base@sha256:${"1".repeat(64)}`; }),
    "Jupyter: GPU requested without a limit": editNamed("archaeo-k8s-workbench-jupyter", (p) => { delete podOf(p).containers[0].resources.limits; }),
    "SSH: on the GPU taint without co-location": editNamed("archaeo-k8s-workbench-sshd", (p) => { delete podOf(p).affinity; }),
    "Service: LoadBalancer without source ranges": editNamed("archaeo-k8s-workbench-sshd-svc", (p) => { p.spec.type = "LoadBalancer"; }),
    "Service: LoadBalancer open to ::/0": editNamed("archaeo-k8s-workbench-jupyter-svc", (p) => { p.spec.type = "LoadBalancer"; p.spec.loadBalancerSourceRanges = ["::/0"]; }),
    "StorageClass: gp3 unencrypted": editNamed("archaeo-storage-gp3", (p) => { p.parameters.encrypted = "false"; }),
    "PVC: workspace on the cluster default class": editNamed("archaeo-storage-workspace", (p) => { delete p.spec.storageClassName; }),
    "IAM: cluster KMS statement on Resource *": policyDoc("aws:iam/rolePolicy:RolePolicy", (d) => { if (d.Statement[0].Sid === "SecretsEnvelopeEncryption") d.Statement[0].Resource = "*"; }),
    "KMS key: rotation off": edit("aws:kms/key:Key", (p) => { p.enableKeyRotation = false; }),
    "bucket: versioning suspended": edit("aws:s3/bucketVersioning:BucketVersioning", (p) => { p.versioningConfiguration.status = "Suspended"; }),
    "tags: provider default tags removed": providerTags((t) => { delete t.institution; }),
};

function score(base: RecordedResource[], mutations: Record<string, Mutate>, label: string) {
    const missed: string[] = [];
    for (const [name, mutate] of Object.entries(mutations)) {
        const rs = [...base];
        mutate(rs);
        if (runPolicies(rs, PACK).violations.filter((x) => x.enforcementLevel === "mandatory").length === 0) missed.push(name);
    }
    const total = Object.keys(mutations).length;
    console.log(`      mutation score (${label}): ${total - missed.length}/${total} = ${(((total - missed.length) / total) * 100).toFixed(1)}%${missed.length ? ` (missed: ${missed.join("; ")})` : ""}`);
    return missed;
}

describe("mutation test: the cluster-mode stack under the policy pack", () => {
    it("every security-relevant mutation of the cluster stack is caught (score must be 100%)", async () => {
        const stack = listStacks().find((s) => readStack(s).raw["archaeo-workbench:mode"] === "cluster")!;
        const base = (await runStack(stack)).resources;
        assert.equal(runPolicies(base, PACK).mandatory, 0, "the unmutated cluster stack is clean");
        assert.deepEqual(score(base, CLUSTER_MUTATIONS, stack), []);
    });
});

describe("mutation test: the example stack under the policy pack", () => {
    let base: RecordedResource[];
    before(async () => { base = (await runStack("example")).resources; });

    it("every stack in stacks/ is clean under the pack", async () => {
        for (const stack of listStacks()) {
            const r = runPolicies((await runStack(stack)).resources, PACK);
            assert.deepEqual(r.violations.map((v) => `${v.policyName}: ${v.message}`), [], stack);
        }
    });

    it("every security-relevant mutation is caught by a mandatory policy (score must be 100%)", () => {
        assert.deepEqual(score(base, MUTATIONS, "example"), [], "mutations the pack did not catch");
    });
});
