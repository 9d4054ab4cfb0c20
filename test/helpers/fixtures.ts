/**
 * A compliant fixture stack touching every rule of the pack, in the shapes infra/ produces or (for
 * JupyterHub and Cognito) the shapes the lead builds to, plus small mutation helpers. One field changed
 * per mutation (AWSGuard tests/util.ts style).
 *
 * Every IAM, KMS, S3 and SQS policy document in it is the program's own: written by the pure document
 * functions of infra/iam.ts and infra/cluster/iam.ts with this fixture's ARNs, never by hand, so a
 * change to a statement there reaches the pack's compliant stack (and its mutations) unchanged.
 */
import * as zlib from "zlib";
import type { RecordedResource } from "../../tools/mock-engine";
import {
    assumeRolePolicy, auditBucketPolicy, budgetTopicPolicy, denyInsecureTransportPolicy, keyPolicy, PolicyDocument, researcherInstancePolicy, researcherTrustPolicy, workstationPolicy,
} from "../../infra/iam";
import { interruptionQueuePolicy, podIdentityTrust } from "../../infra/cluster/iam";
import { ACCOUNT, fixture } from "./policy";
import { gpuEnvPolicy, TOOLKIT_USER_DATA } from "../../infra/cluster/gpu-isolation";
import { budgetStopAdmission, enforcerResearcherObjects } from "../../infra/cluster/budget-stop";

export const REGION = "us-east-1";
export const KEY = `arn:aws:kms:${REGION}:${ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab`;
export const FOREIGN_KEY = `arn:aws:kms:${REGION}:999999999999:key/99999999-12ab-34cd-56ef-1234567890ab`;
export const REPO = `${ACCOUNT}.dkr.ecr.${REGION}.amazonaws.com/archaeo/x/pytorch-cuda`;
export const IMAGE = `${REPO}@sha256:${"c".repeat(64)}`;
export const BUCKET = "archaeo-x-datasets";
export const AUDIT_BUCKET = "archaeo-x-audit";
export const ALICE = "alice";
export const ALICE_PRINCIPAL = `arn:aws:iam::${ACCOUNT}:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Alice_0123456789abcdef`;
export const ALICE_INSTANCE = `arn:aws:ec2:${REGION}:${ACCOUNT}:instance/i-0a11ce0000000000a`;
export const BOB_INSTANCE = `arn:aws:ec2:${REGION}:${ACCOUNT}:instance/i-0b0b000000000000b`;
export const ALICE_ROLE = `arn:aws:iam::${ACCOUNT}:role/archaeo-x-alice`;
export const ALICE_PODS_ROLE = `arn:aws:iam::${ACCOUNT}:role/archaeo-x-pods-alice`;
export const ADMIN_ROLE = `arn:aws:iam::${ACCOUNT}:role/platform-admins`;
/** Alice signs in through a shared Identity Center role; her own session name tells her apart. */
export const ALICE_SESSION_NAME = "alice@uni.example";
export const TRAIL_NAME = "archaeo";
export const QUEUE_ARN = `arn:aws:sqs:${REGION}:${ACCOUNT}:x`;
export const ENFORCER_ROLE = `arn:aws:iam::${ACCOUNT}:role/archaeo-x-budget-enforcer`;
export const ENFORCER_FUNCTION = `arn:aws:lambda:${REGION}:${ACCOUNT}:function:archaeo-x-budget-enforcer`;
export const ALICE_STOP_TOPIC = `arn:aws:sns:${REGION}:${ACCOUNT}:archaeo-x-budget-stop-alice`;
export const REPOSITORY_ARN = `arn:aws:ecr:${REGION}:${ACCOUNT}:repository/archaeo/x/pytorch-cuda`;
/** Alice's SSM path (her token, her status). */
export const ALICE_SSM_PATH = "/archaeo/x/researchers/alice";

/** gzip + base64, as infra/instance/userdata.ts renders `userDataBase64` (written here so the pack's decoder is tested against its own fixture). */
export const gzipBase64 = (text: string) => zlib.gzipSync(Buffer.from(text, "utf8"), { level: 9 }).toString("base64");
/** Bob's workstation user data in the shape the program renders: IMAGE_REF in an env file, a unit that runs ${IMAGE_REF}. */
export const BOB_USER_DATA = [
    "#cloud-config",
    "write_files:",
    "  - path: /etc/archaeo/workbench.env",
    "    content: |",
    `      IMAGE_REF=${IMAGE}`,
    "      RESEARCHER_ID=bob",
    "  - path: /etc/systemd/system/archaeo-jupyter.service",
    "    content: |",
    "      [Service]",
    "      EnvironmentFile=/etc/archaeo/workbench.env",
    "      ExecStart=/usr/bin/docker run --rm --name archaeo-jupyter \\",
    "        --gpus all \\",
    "        --user 1000:1000 \\",
    "        --cap-drop ALL --security-opt no-new-privileges \\",
    "        -v /workspace:/workspace \\",
    "        -p 127.0.0.1:8888:8888 \\",
    "        -p ${SSH_BIND_ADDRESS}:2222:2222 \\",
    "        ${IMAGE_REF} jupyter",
    "",
].join("\n");
export const ROOT_TAGS = { institution: "x", "data-classification": "confidential" };

export const doc = (...Statement: object[]) => JSON.stringify({ Version: "2012-10-17", Statement });
const json = (d: PolicyDocument) => JSON.stringify(d);
const common = { partition: "aws", accountId: ACCOUNT, region: REGION };
const trust = (service: string) => json(assumeRolePolicy(service));
const podSpec = () => ({
    securityContext: { runAsNonRoot: true, runAsUser: 1000 },
    containers: [{ name: "jupyter", image: IMAGE, securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } }, resources: { requests: { "nvidia.com/gpu": 1 }, limits: { "nvidia.com/gpu": 1 } } }],
    tolerations: [{ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" }],
});
const bucketParts = (prefix: string, bucket: string, policy: PolicyDocument, key = KEY) => [
    fixture("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration", `${prefix}-sse`, { bucket, rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "aws:kms", kmsMasterKeyId: key }, bucketKeyEnabled: true }] }),
    fixture("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", `${prefix}-pab`, { bucket, blockPublicAcls: true, blockPublicPolicy: true, ignorePublicAcls: true, restrictPublicBuckets: true }),
    fixture("aws:s3/bucketVersioning:BucketVersioning", `${prefix}-ver`, { bucket, versioningConfiguration: { status: "Enabled" } }),
    fixture("aws:s3/bucketPolicy:BucketPolicy", `${prefix}-tls`, { bucket, policy: json(policy) }),
];

/** Alice's researcher role policy, as infra/instance (researcherInstancePolicy) writes it for her workstation. */
export const alicePolicy = () => researcherInstancePolicy({
    ...common, bucketArn: `arn:aws:s3:::${BUCKET}`, keyArn: KEY, researcherId: ALICE, researcherSsmPath: ALICE_SSM_PATH, instanceArn: ALICE_INSTANCE,
});

/** The policy of alice's workstation role, as infra/instance/workstation.ts (workstationPolicy) writes it: her data, her parameters, the image. */
export const aliceWorkstationPolicy = () => workstationPolicy({
    ...common, bucketArn: `arn:aws:s3:::${BUCKET}`, keyArn: KEY, researcherId: ALICE, researcherSsmPath: ALICE_SSM_PATH, repositoryArn: REPOSITORY_ARN,
});

/** JupyterHub (Zero to JupyterHub 4.4.0) values as the lead builds them (issue 10 item 4). */
export const hubValues = () => ({
    hub: { config: { JupyterHub: { authenticator_class: "generic-oauth" }, GenericOAuthenticator: { client_id: "abc", client_secret: "from-a-pulumi-secret", allowed_users: ["alice"] } } },
    proxy: { service: { type: "ClusterIP" } },
    singleuser: {
        uid: 1000,
        allowPrivilegeEscalation: false,
        image: { name: REPO, tag: `2.9.1@sha256:${"c".repeat(64)}` },
        profileList: [{ display_name: "1 GPU", kubespawner_override: { image: IMAGE, extra_resource_limits: { "nvidia.com/gpu": "1" } } }],
    },
});

/** A compliant stack touching every rule of the pack. */
export function compliant(): RecordedResource[] {
    return [
        // The key policy of a cluster-mode stack (every statement keyPolicy writes).
        fixture("aws:kms/key:Key", "cmk", {
            enableKeyRotation: true,
            policy: json(keyPolicy({ ...common, trailName: TRAIL_NAME, logsPrefix: "/aws/eks/x/", eventBridge: true, autoScaling: true, budgetTopics: true })),
        }, { protect: true, state: { arn: KEY, keyId: "1234abcd-12ab-34cd-56ef-1234567890ab", id: "1234abcd-12ab-34cd-56ef-1234567890ab" } }),
        fixture("aws:ebs/volume:Volume", "workspace", { encrypted: true, kmsKeyId: KEY, type: "gp3", size: 100, availabilityZone: "us-east-1a", tags: { researcher: ALICE, "archaeo-snapshot": "x-workspace" } }, { protect: true, state: { arn: `arn:aws:ec2:${REGION}:${ACCOUNT}:volume/vol-1` } }),
        fixture("aws:dlm/lifecyclePolicy:LifecyclePolicy", "snapshots", { state: "ENABLED", executionRoleArn: `arn:aws:iam::${ACCOUNT}:role/archaeo-x-dlm`, policyDetails: {
            policyType: "EBS_SNAPSHOT_MANAGEMENT", resourceTypes: ["VOLUME"], targetTags: { "archaeo-snapshot": "x-workspace" },
            schedules: [{ name: "daily", createRule: { interval: 24, intervalUnit: "HOURS", times: "03:00" }, retainRule: { count: 14 } }],
        } }),
        fixture("aws:ec2/instance:Instance", "ws", {
            metadataOptions: { httpTokens: "required", httpPutResponseHopLimit: 2 }, rootBlockDevice: { encrypted: true, kmsKeyId: KEY, tags: ROOT_TAGS },
            ebsBlockDevices: [{ deviceName: "/dev/sdg", encrypted: true, kmsKeyId: KEY }], userData: `#cloud-config\nruncmd:\n  - |\n    docker run --rm --user 1000:1000 \\\n    --gpus all ${IMAGE} smoke\n`,
            tags: { researcher: ALICE },
        }, { state: { arn: ALICE_INSTANCE } }),
        fixture("aws:ec2/instance:Instance", "ws-gz", {
            metadataOptions: { httpTokens: "required", httpPutResponseHopLimit: 2 }, rootBlockDevice: { encrypted: true, kmsKeyId: KEY, tags: ROOT_TAGS },
            userDataBase64: gzipBase64(BOB_USER_DATA), userDataReplaceOnChange: true, tags: { researcher: "bob" },
        }, { state: { arn: BOB_INSTANCE } }),
        fixture("aws:ec2/instance:Instance", "nat", {
            metadataOptions: { httpTokens: "required", httpPutResponseHopLimit: 1 }, rootBlockDevice: { encrypted: true, kmsKeyId: KEY, tags: ROOT_TAGS }, userData: "#cloud-config\nruncmd:\n  - [sysctl, -w, net.ipv4.ip_forward=1]\n",
        }, { state: { arn: `arn:aws:ec2:${REGION}:${ACCOUNT}:instance/i-0000000000000nat0` } }),
        fixture("aws:ec2/launchTemplate:LaunchTemplate", "lt", { metadataOptions: { httpTokens: "required", httpPutResponseHopLimit: 1 }, blockDeviceMappings: [{ deviceName: "/dev/xvda", ebs: { encrypted: "true", kmsKeyId: KEY } }] }),
        fixture("aws:ec2/securityGroup:SecurityGroup", "sg", { ingress: [{ protocol: "tcp", fromPort: 443, toPort: 443, cidrBlocks: ["10.0.0.0/8"] }] }, { state: { id: "sg-1" } }),
        fixture("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", "in", { securityGroupId: "sg-1", ipProtocol: "tcp", fromPort: 2222, toPort: 2222, cidrIpv4: "203.0.113.0/24" }),
        fixture("aws:ec2/securityGroupRule:SecurityGroupRule", "rule", { securityGroupId: "sg-1", type: "ingress", protocol: "tcp", fromPort: 2222, toPort: 2222, cidrBlocks: ["198.51.100.0/24"], ipv6CidrBlocks: ["2001:db8:4d55::/48"] }),
        fixture("aws:s3/bucket:Bucket", "datasets", { bucket: BUCKET, forceDestroy: false, tags: { "archaeo-purpose": "datasets" } }, { protect: true, state: { arn: `arn:aws:s3:::${BUCKET}`, id: BUCKET } }),
        ...bucketParts("datasets", BUCKET, denyInsecureTransportPolicy(`arn:aws:s3:::${BUCKET}`)),
        fixture("aws:s3/bucket:Bucket", "audit", { bucket: AUDIT_BUCKET, tags: { "archaeo-purpose": "audit-logs" } }, { protect: true, state: { arn: `arn:aws:s3:::${AUDIT_BUCKET}`, id: AUDIT_BUCKET } }),
        ...bucketParts("audit", AUDIT_BUCKET, auditBucketPolicy({ ...common, bucketArn: `arn:aws:s3:::${AUDIT_BUCKET}`, trailName: TRAIL_NAME })),
        fixture("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", "audit-retention", { bucket: AUDIT_BUCKET, rules: [{ id: "retain", status: "Enabled", filter: {}, expiration: { days: 400 }, noncurrentVersionExpiration: { noncurrentDays: 400 } }] }),
        fixture("aws:cloudtrail/trail:Trail", "trail", {
            s3BucketName: AUDIT_BUCKET, kmsKeyId: KEY, enableLogFileValidation: true, includeGlobalServiceEvents: false,
            advancedEventSelectors: [{ name: "Dataset object access", fieldSelectors: [
                { field: "eventCategory", equals: ["Data"] },
                { field: "resources.type", equals: ["AWS::S3::Object"] },
                { field: "resources.ARN", startsWiths: [`arn:aws:s3:::${BUCKET}/`] },
            ] }],
        }, { state: { arn: `arn:aws:cloudtrail:${REGION}:${ACCOUNT}:trail/${TRAIL_NAME}` } }),
        fixture("aws:ecr/repository:Repository", "repo", { encryptionConfigurations: [{ encryptionType: "KMS", kmsKey: KEY }], imageScanningConfiguration: { scanOnPush: true }, imageTagMutability: "IMMUTABLE" }, { state: { repositoryUrl: REPO, arn: REPOSITORY_ARN } }),
        fixture("aws:ecr/lifecyclePolicy:LifecyclePolicy", "repo-lifecycle", { repository: "archaeo/x/pytorch-cuda", policy: JSON.stringify({ rules: [
            { rulePriority: 1, selection: { tagStatus: "untagged", countType: "sinceImagePushed", countUnit: "days", countNumber: 14 }, action: { type: "expire" } },
            { rulePriority: 2, selection: { tagStatus: "tagged", tagPatternList: ["*"], countType: "sinceImagePushed", countUnit: "days", countNumber: 1825 }, action: { type: "expire" } },
        ] }) }),
        fixture("aws:efs/fileSystem:FileSystem", "efs", { encrypted: true, kmsKeyId: KEY, protection: { replicationOverwrite: "ENABLED" } }, { protect: true, state: { id: "fs-1", arn: `arn:aws:elasticfilesystem:${REGION}:${ACCOUNT}:file-system/fs-1` } }),
        fixture("aws:backup/plan:Plan", "homes-plan", { name: "x-homes", rules: [{ ruleName: "daily", targetVaultName: "x-homes", schedule: "cron(0 3 * * ? *)", lifecycle: { deleteAfter: 14 } }] }, { state: { id: "plan-1" } }),
        fixture("aws:backup/selection:Selection", "homes-selection", { name: "homes", planId: "plan-1", iamRoleArn: `arn:aws:iam::${ACCOUNT}:role/archaeo-x-backup`, resources: [`arn:aws:elasticfilesystem:${REGION}:${ACCOUNT}:file-system/fs-1`] }),
        fixture("aws:eks/cluster:Cluster", "eks", {
            encryptionConfig: { resources: ["secrets"], provider: { keyArn: KEY } },
            vpcConfig: { endpointPrivateAccess: true, endpointPublicAccess: true, publicAccessCidrs: ["203.0.113.0/24"] },
            enabledClusterLogTypes: ["api", "audit", "authenticator"],
        }, { state: { arn: `arn:aws:eks:${REGION}:${ACCOUNT}:cluster/x` } }),
        fixture("aws:ssm/parameter:Parameter", "token", { name: `${ALICE_SSM_PATH}/jupyter-token`, type: "SecureString", keyId: KEY }),
        fixture("aws:cloudwatch/logGroup:LogGroup", "logs", { kmsKeyId: KEY, retentionInDays: 90 }),
        fixture("aws:sqs/queue:Queue", "queue", { kmsMasterKeyId: KEY }, { state: { arn: QUEUE_ARN } }),
        fixture("aws:sqs/queuePolicy:QueuePolicy", "queue-policy", { queueUrl: "https://sqs/x", policy: json(interruptionQueuePolicy(QUEUE_ARN, ACCOUNT)) }),
        fixture("aws:iam/role:Role", "ws-role", { name: "archaeo-x-workstation", assumeRolePolicy: trust("ec2.amazonaws.com"), tags: { "archaeo-workstation-of": ALICE } }, { state: { arn: `arn:aws:iam::${ACCOUNT}:role/archaeo-x-workstation` } }),
        fixture("aws:iam/rolePolicyAttachment:RolePolicyAttachment", "ws-ssm", { role: "archaeo-x-workstation", policyArn: "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore" }),
        fixture("aws:iam/rolePolicy:RolePolicy", "pol", { role: "archaeo-x-workstation", policy: JSON.stringify(aliceWorkstationPolicy()) }),
        fixture("aws:iam/role:Role", "alice-role", { name: "archaeo-x-alice", assumeRolePolicy: json(researcherTrustPolicy({ principalArn: ALICE_PRINCIPAL, id: ALICE, sessionName: ALICE_SESSION_NAME })), tags: { researcher: ALICE } },
            { state: { arn: ALICE_ROLE } }),
        fixture("aws:iam/rolePolicy:RolePolicy", "alice-policy", { role: "archaeo-x-alice", policy: JSON.stringify(alicePolicy()) }),
        // Roles acting for alice: her workstation's instance role and her pods' role (Pod Identity).
        fixture("aws:iam/role:Role", "alice-ws-role", { name: "archaeo-x-ws-alice", assumeRolePolicy: trust("ec2.amazonaws.com"), tags: { "archaeo-workstation-of": ALICE } },
            { state: { arn: `arn:aws:iam::${ACCOUNT}:role/archaeo-x-ws-alice` } }),
        fixture("aws:iam/rolePolicy:RolePolicy", "alice-ws-policy", { role: "archaeo-x-ws-alice", policy: JSON.stringify(aliceWorkstationPolicy()) }),
        fixture("aws:iam/role:Role", "alice-pods-role", { name: "archaeo-x-pods-alice", assumeRolePolicy: json(podIdentityTrust()), tags: { "archaeo-pods-of": ALICE } },
            { state: { arn: ALICE_PODS_ROLE } }),
        // Cluster access: alice's access entry, an admin with an EKS access policy, Pod Identity for her server, the hub's port-forward guard.
        fixture("aws:eks/accessEntry:AccessEntry", "alice-access", { clusterName: "x", principalArn: ALICE_ROLE, type: "STANDARD", userName: "archaeo:alice" }),
        fixture("aws:eks/accessEntry:AccessEntry", "admin-access", { clusterName: "x", principalArn: ADMIN_ROLE, type: "STANDARD" }),
        fixture("aws:eks/accessPolicyAssociation:AccessPolicyAssociation", "admin-policy", { clusterName: "x", principalArn: ADMIN_ROLE, policyArn: "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy", accessScope: { type: "cluster" } }),
        fixture("kubernetes:core/v1:ServiceAccount", "alice-sa", { metadata: { name: "researcher-alice", namespace: "jupyterhub", labels: { "archaeo/researcher": ALICE } } }),
        fixture("aws:eks/podIdentityAssociation:PodIdentityAssociation", "alice-pods", { clusterName: "x", namespace: "jupyterhub", serviceAccount: "researcher-alice", roleArn: ALICE_PODS_ROLE, tags: { researcher: ALICE } }),
        // Each researcher's own Role in the hub namespace: get and port-forward to their server and the tunnel, by name (infra/cluster/manifests.ts hubResearcherObjects).
        ...["alice", "bob"].flatMap((id) => [
            fixture("kubernetes:rbac.authorization.k8s.io/v1:Role", `${id}-hub-role`, { metadata: { name: `researcher-${id}`, namespace: "jupyterhub" }, rules: [
                { apiGroups: [""], resources: ["pods"], resourceNames: [`jupyter-${id}`, "hub-tunnel-0"], verbs: ["get"] },
                { apiGroups: [""], resources: ["pods/portforward"], resourceNames: [`jupyter-${id}`, "hub-tunnel-0"], verbs: ["create"] },
            ] }),
            fixture("kubernetes:rbac.authorization.k8s.io/v1:RoleBinding", `${id}-hub`, {
                metadata: { name: `researcher-${id}`, namespace: "jupyterhub" }, roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: `researcher-${id}` },
                subjects: [{ apiGroup: "rbac.authorization.k8s.io", kind: "User", name: `archaeo:${id}` }],
            }),
        ]),
        fixture("kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicy", "pf-policy", { metadata: { name: "archaeo-researcher-port-forward" }, spec: {
            failurePolicy: "Fail",
            matchConstraints: { resourceRules: [{ apiGroups: [""], apiVersions: ["v1"], operations: ["CONNECT"], resources: ["pods/portforward"] }] },
            matchConditions: [{ name: "researchers-only", expression: "request.userInfo.username.startsWith('archaeo:')" }],
            validations: [{ expression: "request.name == 'jupyter-' + request.userInfo.username.substring(8)", message: "own server only" }],
        } }),
        fixture("kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicyBinding", "pf-binding", { metadata: { name: "archaeo-researcher-port-forward" }, spec: {
            policyName: "archaeo-researcher-port-forward", validationActions: ["Deny"], matchResources: { namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "jupyterhub" } } },
        } }),
        fixture("aws:cognito/userPool:UserPool", "users", { mfaConfiguration: "ON", softwareTokenMfaConfiguration: { enabled: true }, adminCreateUserConfig: { allowAdminCreateUserOnly: true }, deletionProtection: "ACTIVE" }),
        fixture("aws:cognito/userPoolClient:UserPoolClient", "hub-client", { generateSecret: true, allowedOauthFlows: ["code"] }, { additionalSecretOutputs: ["clientSecret"] }),
        fixture("kubernetes:helm.sh/v3:Release", "jupyterhub", { chart: "jupyterhub", version: "4.4.0", repositoryOpts: { repo: "https://hub.jupyter.org/helm-chart/" }, namespace: "jupyterhub", values: hubValues() }),
        fixture("kubernetes:core/v1:ResourceQuota", "gpu-quota", { metadata: { name: "gpus", namespace: "jupyterhub" }, spec: { hard: { "requests.nvidia.com/gpu": "4" } } }),
        fixture("kubernetes:helm.sh/v3:Release", "karpenter", { chart: "oci://public.ecr.aws/karpenter/karpenter", version: "1.11.1", namespace: "kube-system", values: { replicas: 1, controller: { image: { repository: "public.ecr.aws/karpenter/controller", tag: "1.11.1", digest: `sha256:${"d".repeat(64)}` } } } }),
        fixture("kubernetes:apps/v1:Deployment", "jupyter", { spec: { template: { spec: podSpec() } } }),
        fixture("kubernetes:batch/v1:Job", "ddp", { spec: { template: { spec: podSpec() } } }),
        fixture("kubernetes:karpenter.k8s.aws/v1:EC2NodeClass", "nodeclass", { metadata: { name: "gpu" }, spec: { metadataOptions: { httpTokens: "required", httpPutResponseHopLimit: 1 }, blockDeviceMappings: [{ deviceName: "/dev/xvda", ebs: { encrypted: true, kmsKeyID: KEY } }], tags: { ...ROOT_TAGS }, userData: TOOLKIT_USER_DATA } }),
        // GPU isolation: the device plugin passes GPUs as mounts; the GPU pool's node class sets the toolkit's flags (userData above).
        fixture("kubernetes:helm.sh/v3:Release", "device-plugin", { chart: "nvidia-device-plugin", version: "0.19.0", repositoryOpts: { repo: "https://nvidia.github.io/k8s-device-plugin" }, namespace: "kube-system", values: { deviceListStrategy: "volume-mounts" } }),
        fixture("kubernetes:karpenter.sh/v1:NodePool", "gpu-pool", { metadata: { name: "gpu" }, spec: { template: { spec: { nodeClassRef: { group: "karpenter.k8s.aws", kind: "EC2NodeClass", name: "gpu" }, taints: [{ key: "nvidia.com/gpu", value: "true", effect: "NoSchedule" }] } }, limits: { "nvidia.com/gpu": "4" } } }),
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
        // The budget enforcer of a cluster-mode stack (infra/cluster/budget-enforcer.ts): alice's topic, the function, its wiring.
        fixture("aws:ec2/subnet:Subnet", "private-a", { vpcId: "vpc-1", cidrBlock: "10.0.1.0/24" }, { state: { id: "subnet-1" } }),
        fixture("aws:cloudwatch/logGroup:LogGroup", "enforcer-logs", { name: "/aws/eks/x/budget-enforcer", kmsKeyId: KEY, retentionInDays: 365 }),
        fixture("aws:iam/role:Role", "enforcer-role", { name: "archaeo-x-budget-enforcer", assumeRolePolicy: trust("lambda.amazonaws.com"), tags: { "archaeo-function-of": "archaeo-x-budget-enforcer" } }, { state: { arn: ENFORCER_ROLE } }),
        fixture("aws:sns/topic:Topic", "alice-stop", { name: "archaeo-x-budget-stop-alice", kmsMasterKeyId: KEY, tags: { "archaeo-budget-of": ALICE } }, { state: { arn: ALICE_STOP_TOPIC } }),
        fixture("aws:sns/topicPolicy:TopicPolicy", "alice-stop-policy", { arn: ALICE_STOP_TOPIC, policy: json(budgetTopicPolicy({ partition: "aws", accountId: ACCOUNT, topicArn: ALICE_STOP_TOPIC })) }),
        fixture("aws:lambda/function:Function", "enforcer", {
            name: "archaeo-x-budget-enforcer", role: ENFORCER_ROLE, vpcConfig: { subnetIds: ["subnet-1"], securityGroupIds: ["sg-1"] },
            loggingConfig: { logFormat: "Text", logGroup: "/aws/eks/x/budget-enforcer" }, environment: { variables: { ARCHAEO_HUB_NAMESPACE: "jupyterhub" } },
        }, { state: { arn: ENFORCER_FUNCTION } }),
        fixture("aws:lambda/permission:Permission", "enforcer-invoke-alice", { action: "lambda:InvokeFunction", function: "archaeo-x-budget-enforcer", principal: "sns.amazonaws.com", sourceArn: ALICE_STOP_TOPIC }),
        fixture("aws:sns/topicSubscription:TopicSubscription", "alice-stop-subscription", { topic: ALICE_STOP_TOPIC, protocol: "lambda", endpoint: ENFORCER_FUNCTION }),
        // The namespaces researchers' code runs in (Pod Security, a GPU quota each) and the NVIDIA_* admission policy
        // (infra/cluster/manifests.ts, gpu-isolation.ts gpuEnvPolicy).
        fixture("kubernetes:core/v1:Namespace", "hub-ns", { metadata: { name: "jupyterhub", labels: { "pod-security.kubernetes.io/enforce": "baseline" } } }),
        fixture("kubernetes:core/v1:Namespace", "alice-ns", { metadata: { name: "researcher-alice", labels: { "pod-security.kubernetes.io/enforce": "restricted" } } }),
        fixture("kubernetes:core/v1:ResourceQuota", "alice-quota", { metadata: { name: "gpus", namespace: "researcher-alice" }, spec: { hard: { "requests.nvidia.com/gpu": "2" } } }),
        ...(() => {
            const env = gpuEnvPolicy({ labels: {}, hubNamespace: "jupyterhub", researcherNamespacePrefix: "researcher-" });
            return [
                fixture("kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicy", "gpu-env-policy", env.policy),
                fixture("kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicyBinding", "gpu-env-binding", env.binding),
            ];
        })(),
        // Its Kubernetes half (infra/cluster/budget-stop.ts): the right to place alice's stop, and the admission policy that
        // keeps her server from starting while the stop exists.
        ...(() => {
            const enforcer = enforcerResearcherObjects({ institution: "x", stack: "x", id: "alice" });
            const admission = budgetStopAdmission({ institution: "x", stack: "x", ids: ["alice"] });
            return [
                fixture("kubernetes:rbac.authorization.k8s.io/v1:Role", "enforcer-alice-role", enforcer.role),
                fixture("kubernetes:rbac.authorization.k8s.io/v1:RoleBinding", "enforcer-alice-binding", enforcer.roleBinding),
                fixture("kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicy", "budget-stop-policy", admission.policy),
                fixture("kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicyBinding", "budget-stop-alice", admission.bindings[0]),
            ];
        })(),
    ];
}

export type Mutate = (rs: RecordedResource[]) => void;

/** The index of the resource named `name` (of `type`, where names repeat across types); throws when there is none. */
const indexOf = (rs: RecordedResource[], name: string, type?: string): number => {
    const i = rs.findIndex((x) => x.name === name && (type === undefined || x.type === type));
    if (i < 0) throw new Error(`no resource ${name}${type ? ` of type ${type}` : ""}`);
    return i;
};
/** Edits inputs and outputs alike (what Analyze and AnalyzeStack see). */
export const set = (name: string, fn: (p: any) => void, type?: string): Mutate => (rs) => {
    const i = indexOf(rs, name, type);
    const r = structuredClone(rs[i]);
    fn(r.rawInputs);
    if (r.rawState !== r.rawInputs) fn(r.rawState);
    rs[i] = r;
};
/** Edits a JSON policy document property. */
export const setDoc = (name: string, fn: (d: any) => void, prop = "policy"): Mutate => set(name, (p) => { const d = JSON.parse(p[prop]); fn(d); p[prop] = JSON.stringify(d); });
export const opt = (name: string, patch: Partial<RecordedResource>, type?: string): Mutate => (rs) => { const i = indexOf(rs, name, type); rs[i] = { ...rs[i], ...patch }; };
export const remove = (name: string, type?: string): Mutate => (rs) => { rs.splice(indexOf(rs, name, type), 1); };
export const add = (r: RecordedResource): Mutate => (rs) => { rs.push(r); };
export const pod = (p: any) => p.spec.template.spec;
