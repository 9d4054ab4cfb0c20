import { strict as assert } from "assert";
import type { RecordedResource } from "../tools/mock-engine";
import { allPolicies, resourcePolicies, stackValidationPolicies } from "../policies/rules";
import { check, failing, fixture } from "./helpers/policy";

const KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";
const REPO = "123456789012.dkr.ecr.us-east-1.amazonaws.com/archaeo/x/pytorch-cuda";
const IMAGE = `${REPO}@sha256:${"c".repeat(64)}`;
const TLS_DENY = JSON.stringify({ Version: "2012-10-17", Statement: [{ Sid: "DenyInsecureTransport", Effect: "Deny", Principal: "*", Action: "s3:*", Resource: ["arn:aws:s3:::b", "arn:aws:s3:::b/*"], Condition: { Bool: { "aws:SecureTransport": "false" } } }] });
const ROOT_TAGS = { institution: "x", "data-classification": "confidential" };
const podSpec = () => ({
    securityContext: { runAsNonRoot: true, runAsUser: 1000 },
    containers: [{ name: "jupyter", image: IMAGE, securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } }, resources: { requests: { "nvidia.com/gpu": 1 }, limits: { "nvidia.com/gpu": 1 } } }],
    tolerations: [{ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" }],
});

/** A compliant stack touching every rule of the pack. */
function compliant(): RecordedResource[] {
    return [
        fixture("aws:ebs/volume:Volume", "workspace", { encrypted: true, kmsKeyId: KEY, type: "gp3", size: 100, availabilityZone: "us-east-1a" }, { protect: true }),
        fixture("aws:ec2/instance:Instance", "ws", {
            metadataOptions: { httpTokens: "required" }, rootBlockDevice: { encrypted: true, kmsKeyId: KEY, tags: ROOT_TAGS },
            ebsBlockDevices: [{ deviceName: "/dev/sdg", encrypted: true, kmsKeyId: KEY }], userData: `#cloud-config\nruncmd:\n  - docker run --rm --user 1000:1000 --gpus all x \\\n    smoke\n`,
        }),
        fixture("aws:ec2/launchTemplate:LaunchTemplate", "lt", { metadataOptions: { httpTokens: "required" }, blockDeviceMappings: [{ deviceName: "/dev/xvda", ebs: { encrypted: "true", kmsKeyId: KEY } }] }),
        fixture("aws:ec2/securityGroup:SecurityGroup", "sg", { ingress: [{ protocol: "tcp", fromPort: 443, toPort: 443, cidrBlocks: ["10.0.0.0/8"] }] }),
        fixture("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", "in", { ipProtocol: "tcp", fromPort: 2222, toPort: 2222, cidrIpv4: "203.0.113.0/24" }),
        fixture("aws:ec2/securityGroupRule:SecurityGroupRule", "rule", { type: "ingress", protocol: "tcp", fromPort: 8888, toPort: 8888, cidrBlocks: ["198.51.100.0/24"] }),
        fixture("aws:s3/bucket:Bucket", "datasets", { bucket: "b" }, { protect: true }),
        fixture("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration", "sse", { bucket: "b", rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "aws:kms", kmsMasterKeyId: KEY }, bucketKeyEnabled: true }] }),
        fixture("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "pab", { bucket: "b", blockPublicAcls: true, blockPublicPolicy: true, ignorePublicAcls: true, restrictPublicBuckets: true }),
        fixture("aws:s3/bucketVersioning:BucketVersioning", "ver", { bucket: "b", versioningConfiguration: { status: "Enabled" } }),
        fixture("aws:s3/bucketPolicy:BucketPolicy", "tls", { bucket: "b", policy: TLS_DENY }),
        fixture("aws:ecr/repository:Repository", "repo", { encryptionConfigurations: [{ encryptionType: "KMS", kmsKey: KEY }], imageScanningConfiguration: { scanOnPush: true }, imageTagMutability: "IMMUTABLE", repositoryUrl: REPO }),
        fixture("aws:kms/key:Key", "cmk", { enableKeyRotation: true }, { protect: true }),
        fixture("aws:efs/fileSystem:FileSystem", "efs", { encrypted: true, kmsKeyId: KEY, id: "fs-1" }, { protect: true }),
        fixture("aws:eks/cluster:Cluster", "eks", {
            encryptionConfig: { resources: ["secrets"], provider: { keyArn: KEY } },
            vpcConfig: { endpointPrivateAccess: true, endpointPublicAccess: true, publicAccessCidrs: ["203.0.113.0/24"] },
            enabledClusterLogTypes: ["api", "audit", "authenticator"],
        }),
        fixture("aws:ssm/parameter:Parameter", "token", { name: "/archaeo/x/jupyter-token", type: "SecureString", keyId: KEY }),
        fixture("aws:cloudwatch/logGroup:LogGroup", "logs", { kmsKeyId: KEY }),
        fixture("aws:iam/rolePolicy:RolePolicy", "pol", { policy: JSON.stringify({ Version: "2012-10-17", Statement: [
            { Sid: "EcrAuthToken", Effect: "Allow", Action: "ecr:GetAuthorizationToken", Resource: "*" },
            { Sid: "Pull", Effect: "Allow", Action: ["ecr:BatchGetImage"], Resource: "arn:aws:ecr:us-east-1:123456789012:repository/archaeo/x/pytorch-cuda" }] }) }),
        fixture("kubernetes:apps/v1:Deployment", "jupyter", { spec: { template: { spec: podSpec() } } }),
        fixture("kubernetes:batch/v1:Job", "ddp", { spec: { template: { spec: podSpec() } } }),
        fixture("kubernetes:karpenter.k8s.aws/v1:EC2NodeClass", "nodeclass", { spec: { metadataOptions: { httpTokens: "required" }, blockDeviceMappings: [{ deviceName: "/dev/xvda", ebs: { encrypted: true, kmsKeyID: KEY } }] } }),
        fixture("kubernetes:apps/v1:Deployment", "sshd", { spec: { template: { spec: {
            securityContext: { runAsNonRoot: true }, tolerations: [{ key: "nvidia.com/gpu", operator: "Exists" }],
            affinity: { podAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: { matchLabels: { app: "jupyter" } }, topologyKey: "kubernetes.io/hostname" }] } },
            containers: [{ name: "sshd", image: IMAGE, securityContext: { allowPrivilegeEscalation: false } }],
        } } } }),
        fixture("kubernetes:core/v1:Service", "ssh-lb", { spec: { type: "LoadBalancer", loadBalancerSourceRanges: ["203.0.113.0/24"] } }),
        fixture("kubernetes:storage.k8s.io/v1:StorageClass", "gp3", { metadata: { name: "gp3-encrypted" }, provisioner: "ebs.csi.aws.com", parameters: { encrypted: "true", kmsKeyId: KEY } }),
        fixture("kubernetes:storage.k8s.io/v1:StorageClass", "efs-sc", { metadata: { name: "efs" }, provisioner: "efs.csi.aws.com", parameters: { fileSystemId: "fs-1" } }),
        fixture("kubernetes:core/v1:PersistentVolumeClaim", "scratch", { spec: { storageClassName: "gp3-encrypted" } }),
        fixture("kubernetes:core/v1:PersistentVolumeClaim", "workspace-pvc", { spec: { storageClassName: "efs" } }),
    ];
}

type Mutation = [policy: string, what: string, mutate: (rs: RecordedResource[]) => void];
const find = (rs: RecordedResource[], name: string) => {
    const r = rs.find((x) => x.name === name);
    if (!r) throw new Error(`no fixture ${name}`);
    return r;
};
const set = (name: string, fn: (inputs: any) => void) => (rs: RecordedResource[]) => fn(find(rs, name).rawInputs);
const setBoth = (name: string, fn: (p: any) => void) => (rs: RecordedResource[]) => { const r = find(rs, name); fn(r.rawInputs); if (r.rawState !== r.rawInputs) fn(r.rawState); };
const unprotect = (name: string) => (rs: RecordedResource[]) => { const i = rs.findIndex((x) => x.name === name); rs[i] = { ...rs[i], protect: false }; };
const remove = (name: string) => (rs: RecordedResource[]) => { rs.splice(rs.findIndex((x) => x.name === name), 1); };
const pod = (p: any) => p.spec.template.spec;

const mutations: Mutation[] = [
    ["ebs-volumes-encrypted-cmk", "volume unencrypted", set("workspace", (p) => { p.encrypted = false; })],
    ["ebs-volumes-encrypted-cmk", "volume on the AWS-managed key", set("workspace", (p) => { p.kmsKeyId = "alias/aws/ebs"; })],
    ["ebs-volumes-encrypted-cmk", "volume without kmsKeyId", set("workspace", (p) => { delete p.kmsKeyId; })],
    ["ec2-instance-volumes-encrypted-cmk", "no root device declared", set("ws", (p) => { delete p.rootBlockDevice; })],
    ["ec2-instance-volumes-encrypted-cmk", "root unencrypted", set("ws", (p) => { p.rootBlockDevice.encrypted = false; })],
    ["ec2-instance-volumes-encrypted-cmk", "root without key", set("ws", (p) => { delete p.rootBlockDevice.kmsKeyId; })],
    ["ec2-instance-volumes-encrypted-cmk", "data device unencrypted", set("ws", (p) => { p.ebsBlockDevices[0].encrypted = false; })],
    ["launch-template-volumes-encrypted-cmk", "launch template encrypted 'false' (a string)", set("lt", (p) => { p.blockDeviceMappings[0].ebs.encrypted = "false"; })],
    ["launch-template-volumes-encrypted-cmk", "launch template without key", set("lt", (p) => { delete p.blockDeviceMappings[0].ebs.kmsKeyId; })],
    ["launch-template-volumes-encrypted-cmk", "launch template without devices", set("lt", (p) => { p.blockDeviceMappings = []; })],
    ["ec2-imdsv2-required", "instance IMDSv1 allowed", set("ws", (p) => { p.metadataOptions.httpTokens = "optional"; })],
    ["ec2-imdsv2-required", "instance without metadata options", set("ws", (p) => { delete p.metadataOptions; })],
    ["ec2-imdsv2-required", "launch template IMDSv1 allowed", set("lt", (p) => { p.metadataOptions.httpTokens = "optional"; })],
    ["ec2-user-data-no-secrets", "token in instance user data", set("ws", (p) => { p.userData += "JUPYTER_TOKEN=0123456789abcdef0123456789abcdef\n"; })],
    ["ec2-user-data-no-secrets", "AWS key in launch template user data", set("lt", (p) => { p.userData = Buffer.from("export AWS_ACCESS_KEY_ID=AKIAABCDEFGHIJKLMNOP").toString("base64"); })],
    ["ec2-containers-unprivileged", "container as root", set("ws", (p) => { p.userData = p.userData.replace("--user 1000:1000", "--user 0:0"); })],
    ["ec2-containers-unprivileged", "container without --user", set("ws", (p) => { p.userData = p.userData.replace("--user 1000:1000 ", ""); })],
    ["ec2-containers-unprivileged", "privileged container (on a continuation line)", set("ws", (p) => { p.userData = p.userData.replace("    smoke", "    --privileged smoke"); })],
    ["security-groups-no-public-ingress", "inline ingress from 0.0.0.0/0", set("sg", (p) => { p.ingress[0].cidrBlocks = ["0.0.0.0/0"]; })],
    ["security-groups-no-public-ingress", "inline ingress from ::/0", set("sg", (p) => { p.ingress[0].ipv6CidrBlocks = ["::/0"]; })],
    ["security-groups-no-public-ingress", "ingress rule from 0.0.0.0/0", set("in", (p) => { p.cidrIpv4 = "0.0.0.0/0"; })],
    ["security-groups-no-public-ingress", "ingress rule from ::/0", set("in", (p) => { delete p.cidrIpv4; p.cidrIpv6 = "::/0"; })],
    ["security-groups-no-public-ingress", "legacy rule from 0.0.0.0/0", set("rule", (p) => { p.cidrBlocks = ["0.0.0.0/0"]; })],
    ["s3-sse-kms-cmk", "SSE-S3 instead of KMS", set("sse", (p) => { p.rules[0].applyServerSideEncryptionByDefault = { sseAlgorithm: "AES256" }; })],
    ["s3-sse-kms-cmk", "SSE-KMS with the AWS-managed key", set("sse", (p) => { delete p.rules[0].applyServerSideEncryptionByDefault.kmsMasterKeyId; })],
    ...(["blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"].map((f) =>
        ["s3-public-access-blocked", `${f} off`, set("pab", (p) => { p[f] = false; })] as Mutation)),
    ["s3-buckets-fully-configured", "no encryption config", remove("sse")],
    ["s3-buckets-fully-configured", "no public access block", remove("pab")],
    ["s3-buckets-fully-configured", "versioning suspended", setBoth("ver", (p) => { p.versioningConfiguration.status = "Suspended"; })],
    ["s3-buckets-fully-configured", "no TLS-only policy", setBoth("tls", (p) => { p.policy = JSON.stringify({ Version: "2012-10-17", Statement: [] }); })],
    ["ecr-encrypted-cmk", "ECR with AES256", set("repo", (p) => { p.encryptionConfigurations = [{ encryptionType: "AES256" }]; })],
    ["ecr-scan-on-push", "scan on push off", set("repo", (p) => { p.imageScanningConfiguration.scanOnPush = false; })],
    ["ecr-immutable-tags", "mutable tags", set("repo", (p) => { p.imageTagMutability = "MUTABLE"; })],
    ["kms-key-rotation-enabled", "rotation off", set("cmk", (p) => { p.enableKeyRotation = false; })],
    ["efs-encrypted-cmk", "EFS unencrypted", set("efs", (p) => { p.encrypted = false; })],
    ["eks-secrets-encrypted", "no secrets encryption", set("eks", (p) => { delete p.encryptionConfig; })],
    ["eks-endpoint-not-public", "public endpoint without CIDRs", set("eks", (p) => { delete p.vpcConfig.publicAccessCidrs; })],
    ["eks-endpoint-not-public", "public endpoint open to 0.0.0.0/0", set("eks", (p) => { p.vpcConfig.publicAccessCidrs = ["0.0.0.0/0"]; })],
    ["eks-endpoint-not-public", "private endpoint off", set("eks", (p) => { p.vpcConfig.endpointPrivateAccess = false; })],
    ["eks-control-plane-logging", "audit log off", set("eks", (p) => { p.enabledClusterLogTypes = ["api"]; })],
    ["ssm-secure-parameters-cmk", "token as a plain String", set("token", (p) => { p.type = "String"; })],
    ["ssm-secure-parameters-cmk", "SecureString on the AWS-managed key", set("token", (p) => { delete p.keyId; })],
    ["cloudwatch-log-groups-cmk", "log group without key", set("logs", (p) => { delete p.kmsKeyId; })],
    ["iam-policies-scoped", "wildcard resource", set("pol", (p) => { const d = JSON.parse(p.policy); d.Statement[1].Resource = "*"; p.policy = JSON.stringify(d); })],
    ["iam-policies-scoped", "wildcard action", set("pol", (p) => { const d = JSON.parse(p.policy); d.Statement[1].Action = "s3:*"; p.policy = JSON.stringify(d); })],
    ["k8s-containers-non-root", "runAsNonRoot missing", setBoth("jupyter", (p) => { delete pod(p).securityContext.runAsNonRoot; })],
    ["k8s-containers-non-root", "uid 0", setBoth("ddp", (p) => { pod(p).containers[0].securityContext.runAsUser = 0; })],
    ["k8s-no-privileged", "privileged container", setBoth("jupyter", (p) => { pod(p).containers[0].securityContext.privileged = true; })],
    ["k8s-no-privileged", "privilege escalation allowed", setBoth("jupyter", (p) => { delete pod(p).containers[0].securityContext.allowPrivilegeEscalation; })],
    ["k8s-no-privileged", "host network", setBoth("ddp", (p) => { pod(p).hostNetwork = true; })],
    ["k8s-images-pinned-by-digest", "image by tag", setBoth("jupyter", (p) => { pod(p).containers[0].image = `${REPO}:v1`; })],
    ["k8s-images-from-stack-ecr", "image from Docker Hub", setBoth("ddp", (p) => { pod(p).containers[0].image = `docker.io/jupyter/base@sha256:${"d".repeat(64)}`; })],
    ["k8s-gpu-limits", "GPU requested without a limit", setBoth("jupyter", (p) => { delete pod(p).containers[0].resources.limits; })],
    ["k8s-gpu-limits", "tolerates GPU taint without using a GPU", setBoth("ddp", (p) => { pod(p).containers[0].resources = {}; })],
    ["k8s-storageclasses-encrypted", "gp3 class unencrypted", setBoth("gp3", (p) => { p.parameters.encrypted = "false"; })],
    ["k8s-storageclasses-encrypted", "gp3 class without a key", setBoth("gp3", (p) => { delete p.parameters.kmsKeyId; })],
    ["karpenter-nodeclass-secure", "node volumes unencrypted", setBoth("nodeclass", (p) => { p.spec.blockDeviceMappings[0].ebs.encrypted = false; })],
    ["karpenter-nodeclass-secure", "node volumes on the AWS-managed key", setBoth("nodeclass", (p) => { delete p.spec.blockDeviceMappings[0].ebs.kmsKeyID; })],
    ["karpenter-nodeclass-secure", "IMDSv1 on GPU nodes", setBoth("nodeclass", (p) => { p.spec.metadataOptions.httpTokens = "optional"; })],
    ["k8s-gpu-limits", "CPU pod on the GPU taint without co-location", setBoth("sshd", (p) => { delete pod(p).affinity; })],
    ["k8s-loadbalancer-source-ranges", "LoadBalancer without source ranges", set("ssh-lb", (p) => { delete p.spec.loadBalancerSourceRanges; })],
    ["k8s-loadbalancer-source-ranges", "LoadBalancer open to ::/0", set("ssh-lb", (p) => { p.spec.loadBalancerSourceRanges = ["::/0"]; })],
    ["k8s-pvcs-on-encrypted-storage", "StorageClass unencrypted", setBoth("gp3", (p) => { p.parameters.encrypted = "false"; })],
    ["k8s-pvcs-on-encrypted-storage", "PVC on the cluster default class", setBoth("scratch", (p) => { delete p.spec.storageClassName; })],
    ["k8s-pvcs-on-encrypted-storage", "PVC on an unencrypted EFS", setBoth("efs", (p) => { p.encrypted = false; })],
    ["required-tags", "resource without tags and without provider default tags", (rs) => { const i = rs.findIndex((x) => x.name === "repo"); rs[i] = { ...rs[i], provider: "" }; }],
    ["required-tags", "root volume untagged", set("ws", (p) => { delete p.rootBlockDevice.tags; })],
    ["stateful-resources-protected", "volume unprotected", unprotect("workspace")],
    ["stateful-resources-protected", "bucket unprotected", unprotect("datasets")],
    ["stateful-resources-protected", "key unprotected", unprotect("cmk")],
    ["stateful-resources-protected", "EFS unprotected", unprotect("efs")],
    ["workstation-image-from-stack-ecr", "workstation image by tag", setBoth("ws", (p) => { p.userData += `IMAGE_REF=${REPO}:latest\n`; })],
    ["workstation-image-from-stack-ecr", "workstation image from elsewhere", setBoth("ws", (p) => { p.userData += `IMAGE_REF=docker.io/x/y@sha256:${"e".repeat(64)}\n`; })],
];

describe("policy pack", () => {
    it("every policy is kebab-case, described 'Checks whether …', mandatory by default, and unique", () => {
        const names = allPolicies.map((p) => p.name);
        assert.equal(new Set(names).size, names.length);
        for (const p of allPolicies) {
            assert.match(p.name, /^[a-z0-9]+(-[a-z0-9]+)*$/);
            assert.match(p.description, /^Checks whether /);
            assert.equal(p.enforcementLevel, "mandatory", p.name);
        }
    });

    it("the compliant fixture stack passes every policy", () => {
        const r = check(compliant());
        assert.deepEqual(r.violations, []);
        assert.equal(r.policiesRun, resourcePolicies.length + stackValidationPolicies.length);
    });

    it("every policy is exercised by at least one mutation", () => {
        const covered = new Set(mutations.map((m) => m[0]));
        assert.deepEqual(allPolicies.map((p) => p.name).filter((n) => !covered.has(n)), []);
    });

    for (const [policy, what, mutate] of mutations) {
        it(`${policy} catches: ${what}`, () => {
            const rs = structuredClone(compliant());
            mutate(rs);
            const r = check(rs);
            const hits = r.violations.filter((v) => v.policyName === policy);
            assert.ok(hits.length > 0, `expected ${policy}, got ${JSON.stringify(r.violations.map((v) => v.policyName))}`);
            assert.ok(hits.every((v) => v.enforcementLevel === "mandatory"));
            for (const v of hits) assert.ok(v.resourceName && v.message.includes(`'${v.resourceName}'`), `message must name the resource: ${v.message}`);
        });
    }

    it("messages name the resource and the fix", () => {
        const rs = structuredClone(compliant());
        set("workspace", (p) => { p.encrypted = false; })(rs);
        const v = check(rs).violations.find((x) => x.policyName === "ebs-volumes-encrypted-cmk")!;
        assert.equal(v.message, "EBS volume 'workspace' must set encrypted: true.");
        assert.equal(v.resourceName, "workspace");
    });

    it("config: an allowed port exempts exactly that port from the public-ingress rule", () => {
        const rs = structuredClone(compliant());
        set("in", (p) => { p.cidrIpv4 = "0.0.0.0/0"; p.fromPort = 443; p.toPort = 443; })(rs);
        assert.ok(failing(rs).includes("security-groups-no-public-ingress"));
        assert.ok(!failing(rs, { "security-groups-no-public-ingress": { allowedPorts: [443] } }).includes("security-groups-no-public-ingress"));
        assert.ok(failing(rs, { "security-groups-no-public-ingress": { allowedPorts: [80] } }).includes("security-groups-no-public-ingress"));
    });

    it("config: enforcement can be lowered to advisory or disabled per policy", () => {
        const rs = structuredClone(compliant());
        set("repo", (p) => { p.imageTagMutability = "MUTABLE"; })(rs);
        const adv = check(rs, { "ecr-immutable-tags": { enforcementLevel: "advisory" } });
        assert.deepEqual([adv.mandatory, adv.advisory], [0, 1]);
        assert.equal(check(rs, { "ecr-immutable-tags": { enforcementLevel: "disabled" } }).violations.length, 0);
    });

    it("policy config schemas carry defaults", () => {
        for (const p of allPolicies) for (const [k, v] of Object.entries(p.configSchema?.properties ?? {})) assert.notEqual((v as any).default, undefined, `${p.name}.${k}`);
    });
});
