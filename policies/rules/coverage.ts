/**
 * Default-deny on what the pack cannot read. Every resource type this stack may contain is listed with
 * the policies that judge it; a resource of any other type is a mandatory violation naming it, until a
 * rule covers it (a newer S3 bucket type, a load balancer, an IAM user, another workload kind the
 * rules were not written for would otherwise pass with no finding). The same for inputs the pack
 * cannot interpret: Helm values given through files or rewritten by a post-renderer.
 *
 * The list is the pack's own statement of coverage: test/coverage.test.ts checks that every type the
 * four stacks register is on it and that each policy named for a type reads that type.
 */
import { PolicyResource, StackValidationPolicy } from "@pulumi/policy";
import { label, onStack } from "../lib/rule";
import { Deferrals } from "../lib/unknowns";
import { get, UNKNOWN } from "../lib/util";

/** Policies that read every resource of the stack whatever its type (tags, keys, principals, protection). */
export const GENERIC_POLICIES = ["required-tags", "kms-key-references-stack-key", "principals-in-stack-account", "stateful-resources-protected"] as const;

const TAGS = "required-tags";
const KEYREF = "kms-key-references-stack-key";
const PRINCIPALS = "principals-in-stack-account";
const ISOLATION = "researcher-isolation";
const PROTECTED = "stateful-resources-protected";
const SURVIVES = "stateful-data-survives-destroy";
const LIFECYCLE = "s3-lifecycle-keeps-data";
const SNAPSHOT_REGION = "snapshot-policies-in-volume-region";
const LOG_RETENTION = "cloudwatch-log-groups-retained";
const RESOURCE_POLICY = "resource-policies-no-public-principals";
const IAM = ["iam-policies-scoped", "iam-managed-policies-allowlisted", "iam-attachments-match-roles", "researcher-roles-scoped", ISOLATION];
const WORKLOAD = ["k8s-containers-non-root", "k8s-no-privileged", "k8s-images-pinned-by-digest", "k8s-gpu-limits", "k8s-images-from-stack-ecr", "k8s-pvcs-on-encrypted-storage", ISOLATION];

/**
 * Resource type -> the policies that judge it. A type with an empty list is structural: it holds no
 * data, grants nothing and opens nothing by itself (what it connects is judged on the resources it
 * connects), and the reason is given in `STRUCTURAL`.
 */
export const JUDGED_TYPES: Readonly<Record<string, readonly string[]>> = {
    // Providers: their default tags and region are read by required-tags and the stack's region checks.
    "pulumi:providers:aws": [TAGS],
    "pulumi:providers:kubernetes": [],
    "pulumi:providers:random": [],
    "pulumi:providers:docker": [],
    // Storage and the data in it.
    "aws:s3/bucket:Bucket": ["s3-sse-kms-cmk", "s3-public-access-blocked", "s3-buckets-fully-configured", "s3-dataset-access-logged", PROTECTED, SURVIVES, LIFECYCLE, ISOLATION, TAGS],
    "aws:s3/bucketPolicy:BucketPolicy": [RESOURCE_POLICY, PRINCIPALS, "s3-buckets-fully-configured", ISOLATION],
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": ["s3-public-access-blocked", "s3-buckets-fully-configured"],
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": ["s3-sse-kms-cmk", "s3-buckets-fully-configured", KEYREF],
    "aws:s3/bucketVersioning:BucketVersioning": ["s3-buckets-fully-configured"],
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": [LIFECYCLE, "s3-dataset-access-logged"],
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls": [],
    "aws:ebs/volume:Volume": ["ebs-volumes-encrypted-cmk", "stateful-data-backed-up", PROTECTED, SNAPSHOT_REGION, ISOLATION, KEYREF, TAGS],
    "aws:ec2/volumeAttachment:VolumeAttachment": [ISOLATION],
    "aws:dlm/lifecyclePolicy:LifecyclePolicy": ["stateful-data-backed-up", SNAPSHOT_REGION, KEYREF, TAGS],
    "aws:efs/fileSystem:FileSystem": ["efs-encrypted-cmk", "stateful-data-backed-up", PROTECTED, SURVIVES, KEYREF, TAGS],
    "aws:efs/accessPoint:AccessPoint": [ISOLATION, TAGS],
    "aws:efs/mountTarget:MountTarget": [],
    "aws:backup/plan:Plan": ["stateful-data-backed-up", TAGS],
    "aws:backup/selection:Selection": ["stateful-data-backed-up", PRINCIPALS],
    "aws:backup/vault:Vault": [KEYREF, SURVIVES, TAGS],
    "aws:cloudwatch/logGroup:LogGroup": ["cloudwatch-log-groups-cmk", LOG_RETENTION, KEYREF, TAGS],
    "aws:ssm/parameter:Parameter": ["ssm-secure-parameters-cmk", PROTECTED, ISOLATION, KEYREF, TAGS],
    "aws:kms/key:Key": ["kms-key-rotation-enabled", RESOURCE_POLICY, PRINCIPALS, KEYREF, PROTECTED, ISOLATION, TAGS],
    "aws:kms/alias:Alias": [KEYREF],
    "aws:ecr/repository:Repository": ["ecr-encrypted-cmk", "ecr-scan-on-push", "ecr-immutable-tags", SURVIVES, KEYREF, TAGS],
    "aws:ecr/lifecyclePolicy:LifecyclePolicy": ["stateful-data-backed-up"],
    "aws:sqs/queue:Queue": [RESOURCE_POLICY, KEYREF, TAGS],
    "aws:sqs/queuePolicy:QueuePolicy": [RESOURCE_POLICY, PRINCIPALS, ISOLATION],
    "aws:cloudtrail/trail:Trail": ["s3-dataset-access-logged", KEYREF, TAGS],
    "aws:budgets/budget:Budget": ["budget-stop-topics-scoped", TAGS],
    "aws:budgets/budgetAction:BudgetAction": ["budget-actions-scoped", TAGS],
    "aws:cloudwatch/eventRule:EventRule": [TAGS],
    // The budget enforcer: its topics, their policies and subscriptions, the function and who may invoke it.
    "aws:sns/topic:Topic": ["budget-stop-topics-scoped", KEYREF, RESOURCE_POLICY, TAGS],
    "aws:sns/topicPolicy:TopicPolicy": ["budget-stop-topics-scoped", RESOURCE_POLICY, PRINCIPALS],
    "aws:sns/topicSubscription:TopicSubscription": ["lambda-functions-scoped"],
    "aws:lambda/function:Function": ["lambda-functions-scoped", KEYREF, TAGS],
    "aws:lambda/permission:Permission": ["lambda-functions-scoped", PRINCIPALS],
    "aws:cloudwatch/eventTarget:EventTarget": [PRINCIPALS],
    // Compute.
    "aws:ec2/instance:Instance": ["ec2-instance-volumes-encrypted-cmk", "ec2-imdsv2-required", "ec2-imds-hop-limit", "ec2-user-data-no-secrets", "ec2-containers-publish-loopback", "ec2-containers-unprivileged", "workstation-image-from-stack-ecr", ISOLATION, KEYREF, TAGS],
    "aws:ec2/launchTemplate:LaunchTemplate": ["launch-template-volumes-encrypted-cmk", "ec2-imdsv2-required", "ec2-imds-hop-limit", "ec2-user-data-no-secrets", KEYREF, TAGS],
    "aws:iam/instanceProfile:InstanceProfile": [ISOLATION, TAGS],
    "docker:index/image:Image": [],
    "random:index/randomPassword:RandomPassword": [],
    // Network.
    "aws:ec2/vpc:Vpc": [TAGS],
    "aws:ec2/subnet:Subnet": [TAGS],
    "aws:ec2/internetGateway:InternetGateway": [TAGS],
    "aws:ec2/routeTable:RouteTable": [TAGS],
    "aws:ec2/routeTableAssociation:RouteTableAssociation": [],
    "aws:ec2/securityGroup:SecurityGroup": ["security-groups-no-public-ingress", "security-groups-ingress-union-limited", "security-groups-public-ports-limited", TAGS],
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": ["security-groups-no-public-ingress", "security-groups-ingress-union-limited", "security-groups-public-ports-limited", TAGS],
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": [TAGS],
    "aws:ec2/vpcEndpoint:VpcEndpoint": [TAGS],
    // Types the rules judge although the program does not create them today.
    "aws:ec2/securityGroupRule:SecurityGroupRule": ["security-groups-no-public-ingress", "security-groups-ingress-union-limited", "security-groups-public-ports-limited"],
    "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup": ["security-groups-no-public-ingress", "security-groups-ingress-union-limited", "security-groups-public-ports-limited", TAGS],
    "aws:ec2/managedPrefixList:ManagedPrefixList": ["security-groups-no-public-ingress", "security-groups-ingress-union-limited", TAGS],
    "aws:ec2/managedPrefixListEntry:ManagedPrefixListEntry": ["security-groups-no-public-ingress", "security-groups-ingress-union-limited"],
    "aws:ec2/spotInstanceRequest:SpotInstanceRequest": ["ec2-imdsv2-required", "ec2-imds-hop-limit", "ec2-user-data-no-secrets", "ec2-containers-publish-loopback", "ec2-containers-unprivileged", ISOLATION, KEYREF, TAGS],
    "aws:ebs/snapshotCopy:SnapshotCopy": ["ebs-volumes-encrypted-cmk", KEYREF, TAGS],
    "aws:secretsmanager/secret:Secret": [KEYREF, RESOURCE_POLICY, TAGS],
    "aws:secretsmanager/secretPolicy:SecretPolicy": [RESOURCE_POLICY, PRINCIPALS],
    "aws:kms/keyPolicy:KeyPolicy": [RESOURCE_POLICY, PRINCIPALS],
    "aws:ecr/repositoryPolicy:RepositoryPolicy": [RESOURCE_POLICY, PRINCIPALS],
    "aws:efs/fileSystemPolicy:FileSystemPolicy": [RESOURCE_POLICY, PRINCIPALS],
    "aws:backup/vaultPolicy:VaultPolicy": [RESOURCE_POLICY, PRINCIPALS],
    "aws:cloudwatch/logResourcePolicy:LogResourcePolicy": [RESOURCE_POLICY, PRINCIPALS],
    "aws:ec2/snapshotCreateVolumePermission:SnapshotCreateVolumePermission": [RESOURCE_POLICY, PRINCIPALS],
    "aws:ec2/amiLaunchPermission:AmiLaunchPermission": [RESOURCE_POLICY, PRINCIPALS],
    "aws:iam/user:User": [ISOLATION, TAGS],
    "aws:iam/group:Group": [ISOLATION],
    "aws:iam/groupMembership:GroupMembership": [ISOLATION],
    "aws:iam/userGroupMembership:UserGroupMembership": [ISOLATION],
    "aws:iam/userPolicy:UserPolicy": ["iam-policies-scoped", RESOURCE_POLICY, ISOLATION],
    "aws:iam/groupPolicy:GroupPolicy": ["iam-policies-scoped", RESOURCE_POLICY, ISOLATION],
    "aws:iam/userPolicyAttachment:UserPolicyAttachment": ["iam-managed-policies-allowlisted", ISOLATION],
    "aws:iam/groupPolicyAttachment:GroupPolicyAttachment": ["iam-managed-policies-allowlisted", ISOLATION],
    // Identity.
    "aws:iam/role:Role": [...IAM, "budget-actions-scoped", "iam-trust-policies-scoped", "eks-pod-identities-match-researcher", PRINCIPALS, TAGS],
    "aws:iam/rolePolicy:RolePolicy": [...IAM, "budget-actions-scoped"],
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": IAM,
    "aws:iam/policy:Policy": [...IAM, "budget-actions-scoped", TAGS],
    "aws:iam/policyAttachment:PolicyAttachment": IAM,
    "aws:iam/rolePolicyAttachmentsExclusive:RolePolicyAttachmentsExclusive": IAM,
    "aws:cognito/userPool:UserPool": ["cognito-user-pools-mfa", SURVIVES, TAGS],
    "aws:cognito/userPoolClient:UserPoolClient": ["cognito-user-pools-mfa", "jupyterhub-values-secure"],
    "aws:cognito/userPoolDomain:UserPoolDomain": [],
    "aws:cognito/user:User": [],
    // EKS.
    "aws:eks/cluster:Cluster": ["eks-secrets-encrypted", "eks-endpoint-not-public", "eks-control-plane-logging", KEYREF, TAGS],
    "aws:eks/nodeGroup:NodeGroup": ["pack-judges-every-input", TAGS],
    "aws:eks/addon:Addon": [ISOLATION, TAGS],
    "aws:eks/accessEntry:AccessEntry": ["eks-access-entries-scoped", ISOLATION, TAGS],
    "aws:eks/accessPolicyAssociation:AccessPolicyAssociation": ["eks-access-entries-scoped"],
    "aws:eks/podIdentityAssociation:PodIdentityAssociation": ["eks-pod-identities-match-researcher", ISOLATION, TAGS],
    // Kubernetes.
    "kubernetes:core/v1:Namespace": ["k8s-budget-stop-holds-server", "jupyterhub-image-and-gpu-quota", "k8s-namespaces-pod-security", "gpu-pods-no-toolkit-env", ISOLATION],
    "kubernetes:core/v1:ServiceAccount": ["eks-pod-identities-match-researcher"],
    "kubernetes:core/v1:ConfigMap": [],
    "kubernetes:core/v1:ResourceQuota": ["jupyterhub-image-and-gpu-quota"],
    "kubernetes:core/v1:PersistentVolume": ["k8s-pvcs-on-encrypted-storage", ISOLATION],
    "kubernetes:core/v1:PersistentVolumeClaim": ["k8s-pvcs-on-encrypted-storage", ISOLATION],
    "kubernetes:core/v1:Service": ["k8s-loadbalancer-source-ranges"],
    "kubernetes:storage.k8s.io/v1:StorageClass": ["k8s-storageclasses-encrypted", KEYREF],
    "kubernetes:networking.k8s.io/v1:NetworkPolicy": [ISOLATION],
    "kubernetes:rbac.authorization.k8s.io/v1:Role": ["k8s-port-forward-own-server", "k8s-shared-namespace-no-pod-reads", "k8s-resource-quotas-held", "k8s-budget-stop-holds-server", ISOLATION],
    "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding": ["k8s-port-forward-own-server", "k8s-shared-namespace-no-pod-reads", "k8s-resource-quotas-held", "k8s-budget-stop-holds-server", ISOLATION],
    "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole": ["k8s-port-forward-own-server", "k8s-shared-namespace-no-pod-reads", "k8s-resource-quotas-held", "k8s-budget-stop-holds-server", ISOLATION],
    "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding": ["k8s-port-forward-own-server", "k8s-shared-namespace-no-pod-reads", "k8s-resource-quotas-held", "k8s-budget-stop-holds-server", ISOLATION],
    "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicy": ["k8s-port-forward-own-server", "k8s-budget-stop-holds-server", "gpu-pods-no-toolkit-env"],
    "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicyBinding": ["k8s-port-forward-own-server", "k8s-budget-stop-holds-server", "gpu-pods-no-toolkit-env"],
    "kubernetes:core/v1:Pod": WORKLOAD,
    "kubernetes:apps/v1:Deployment": WORKLOAD,
    "kubernetes:apps/v1:StatefulSet": WORKLOAD,
    "kubernetes:apps/v1:DaemonSet": WORKLOAD,
    "kubernetes:apps/v1:ReplicaSet": WORKLOAD,
    "kubernetes:batch/v1:Job": WORKLOAD,
    "kubernetes:batch/v1:CronJob": WORKLOAD,
    "kubernetes:helm.sh/v3:Release": ["helm-releases-pinned-and-unprivileged", "jupyterhub-values-secure", "helm-release-images-allowed", "jupyterhub-image-and-gpu-quota", "gpu-nodes-isolate-devices", "pack-judges-every-input"],
    "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass": ["karpenter-nodeclass-secure", "ec2-user-data-no-secrets", "gpu-nodes-isolate-devices", KEYREF, TAGS],
    "kubernetes:karpenter.sh/v1:NodePool": ["gpu-nodes-isolate-devices", "gpu-pools-capped"],
    "aws:ec2transitgateway/instanceState:InstanceState": [],
};

/** Why each type with no policy of its own needs none. */
export const STRUCTURAL: Readonly<Record<string, string>> = {
    "pulumi:providers:kubernetes": "the provider of the cluster's own objects: what it creates is judged per object",
    "pulumi:providers:random": "generates values only",
    "pulumi:providers:docker": "builds and pushes the image judged on its ECR repository",
    "aws:ec2/routeTableAssociation:RouteTableAssociation": "binds a subnet to a route table judged by its routes",
    "aws:cognito/userPoolDomain:UserPoolDomain": "the hosted sign-in page of a pool judged by cognito-user-pools-mfa",
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls": "who owns objects written to a bucket; whether anyone outside can read them is the bucket's public access block (s3-public-access-blocked, which blocks and ignores public ACLs) and policy",
    "aws:efs/mountTarget:MountTarget": "an NFS endpoint in the VPC's subnets: who reaches it is its security groups' rules and the namespaces' network policies (judged), what it serves the file system's access points (researcher-isolation)",
    "kubernetes:core/v1:ConfigMap": "plain configuration. The one that holds a credential, ssh-keys-<id> (a researcher's authorized_keys), is judged where it is mounted (researcher-isolation, the hub's volumes); whose key it holds lives in the stack config (researchers[].sshPublicKeys), which the pack does not see",
    "docker:index/image:Image": "builds the workbench image and pushes it to the stack's ECR repository (judged there); what runs is judged where it runs (workstation-image-from-stack-ecr, k8s-images-from-stack-ecr)",
    "random:index/randomPassword:RandomPassword": "generates a secret; where it is put is judged there (ec2-user-data-no-secrets, ssm-secure-parameters-cmk)",
    "aws:cognito/user:User": "a sign-in identity of a pool judged by cognito-user-pools-mfa; what it may do is the hub's allowed_users (jupyterhub-values-secure)",
    "aws:ec2transitgateway/instanceState:InstanceState": "sets the power state (running or stopped) of an instance judged as a host (researcher-isolation, the workstation policies); it grants, exposes and deletes nothing",
};

/** Components of this project: they register no cloud resource themselves; their children are judged. */
export const COMPONENT_PREFIX = "archaeo:";

/** The reason a type is not judged, or undefined when it is. */
export function unjudgedType(type: string): string | undefined {
    if (type.startsWith(COMPONENT_PREFIX)) return undefined;
    if (Object.prototype.hasOwnProperty.call(JUDGED_TYPES, type)) return undefined;
    return `the pack does not judge ${type} yet: no policy reads what it grants, exposes or deletes, so it cannot be allowed silently; add a rule for it (policies/rules/) and list it in policies/rules/coverage.ts JUDGED_TYPES, or build the change from types the pack judges`;
}

/** Inputs of a Helm release the pack cannot read: values given through files and post-renderers. */
function unreadableReleaseInputs(r: PolicyResource, d: Deferrals): string[] {
    const out: string[] = [];
    const files = get(() => r.props.valueYamlFiles);
    if (files === UNKNOWN) d.defer(`${label(r)}.valueYamlFiles`);
    else if (Array.isArray(files) && files.length > 0) out.push("valueYamlFiles (values given through files are merged by Helm at install; the pack reads only `values`: put them in `values`)");
    const post = get(() => r.props.postrender);
    if (post === UNKNOWN) d.defer(`${label(r)}.postrender`);
    else if (typeof post === "string" && post !== "") out.push("postrender (a post-renderer rewrites the rendered manifests after every rule has read them)");
    const deps = get(() => r.props.dependencyUpdate);
    if (deps === true) out.push("dependencyUpdate (fetches sub-charts the allow-list does not pin)");
    return out;
}

export const coveragePolicies: StackValidationPolicy[] = [
    {
        name: "pack-judges-every-type",
        description: "Checks whether every resource of the stack is of a type the pack judges (policies/rules/coverage.ts lists each type with the policies that read it): a resource of any other type is refused, naming the type, until a rule covers it.",
        enforcementLevel: "mandatory",
        validateStack: onStack((args, report) => {
            const seen = new Set<string>();
            for (const r of args.resources) {
                const why = unjudgedType(r.type);
                if (why === undefined) continue;
                if (seen.has(r.type)) { report(`${label(r)}: ${r.type} is not judged by the pack (see the first violation for this type).`, r.urn); continue; }
                seen.add(r.type);
                report(`${label(r)}: ${why}.`, r.urn);
            }
        }),
    },
    {
        name: "pack-judges-every-input",
        description: "Checks whether every Helm release gives its values where the pack reads them (`values`): value files and post-renderers are refused, since what they set is never judged; and whether no EKS node group opens SSH to its nodes (remoteAccess), which the pack does not judge.",
        enforcementLevel: "mandatory",
        validateStack: onStack((args, report, d) => {
            for (const r of args.resources.filter((x) => x.type === "kubernetes:helm.sh/v3:Release" || x.type === "kubernetes:helm.sh/v4:Chart")) {
                const bad = unreadableReleaseInputs(r, d);
                if (bad.length) report(`${label(r)} sets ${bad.join("; ")}; the pack cannot judge what these install.`, r.urn);
            }
            // SSH to managed nodes: "If you specify an Amazon EC2 SSH key but do not specify a source security group when you
            // create a managed node group, then port 22 on the worker nodes is opened to the internet (0.0.0.0/0)" (EKS
            // RemoteAccessConfig, as AWS CDK's NodegroupRemoteAccess documents it); the pack judges no node SSH at all.
            for (const r of args.resources.filter((x) => x.type === "aws:eks/nodeGroup:NodeGroup")) {
                const remote = get(() => r.props.remoteAccess);
                if (remote === UNKNOWN) { d.defer(`${label(r)}.remoteAccess`); continue; }
                if (remote && typeof remote === "object") report(`${label(r)} sets remoteAccess (SSH to every node, open to the internet unless sourceSecurityGroupIds limits it), which the pack does not judge; reach nodes through SSM instead.`, r.urn);
            }
        }),
    },
];
