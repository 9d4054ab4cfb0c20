/**
 * Adversarial pull requests against the four stacks of stacks/: changes an engineer could make in a
 * PR (copy-paste mistakes, quick fixes, style changes, new resource types, values moved elsewhere,
 * cost savings), each with what it really lets someone reach or lose. Written from DESIGN.md's
 * security model and README's claims, without reading the pack's rules: a case says what must be
 * caught, not how the pack catches it. test/adversarial.test.ts runs them through the real host.
 *
 * Classes (the issue's): 1 isolation reached through something other than identity policies on roles;
 * 2 recognition by exact spelling or type; 3 IAM scoping accepted by key, not by value; 4 retention and
 * deletion of data judged on some resources only. "harmless" cases must raise nothing.
 */
import type { RecordedResource } from "../../tools/mock-engine";
import { MOCK_ACCOUNT_ID } from "../../tools/mock-engine";
import { BUDGET_CASES } from "./cases-budget";
import { GPU_CASES } from "./cases-gpu";
import { add, arnOf, ASSET_SIG, b64, doc, edit, editDoc, editUserData, get, gzb64, idOf, k8sLabels, options, regionOf, replaceOnce, Rs, sid } from "./edit";

export type Stack = "example" | "uni-archaeology" | "city-museum" | "national-heritage";
export const STACKS: readonly Stack[] = ["example", "uni-archaeology", "city-museum", "national-heritage"];

export interface Case {
    /** kebab-case, unique */
    id: string;
    class: 1 | 2 | 3 | 4 | "harmless";
    stack: Stack;
    /** What the PR says. */
    title: string;
    /** What the change actually lets someone reach, or lose. */
    reaches: string;
    mutate: (rs: RecordedResource[]) => RecordedResource[];
    /**
     * The policies that must each raise a new mandatory diagnostic for it: the one whose description claims
     * what the case breaks first, then any other that also judges it. Every dangerous case names them.
     */
    caughtBy?: string[];
}

const A = MOCK_ACCOUNT_ID;
const BUCKET = "aws:s3/bucket:Bucket";
const RELEASE = "kubernetes:helm.sh/v3:Release";
const bucketName = (rs: Rs) => idOf(rs, "archaeo-datasets", BUCKET);
const bucketArn = (rs: Rs) => arnOf(rs, "archaeo-datasets", BUCKET);
const keyArn = (rs: Rs) => arnOf(rs, "archaeo-key-cmk");
const ssmPath = (rs: Rs, who: string) => get(rs, `archaeo-ws-${who}-jupyter-token`, "aws:ssm/parameter:Parameter").inputs.name.replace(/\/jupyter-token$/, "");
const ssmArn = (rs: Rs, p: string) => `arn:aws:ssm:${regionOf(rs)}:${A}:parameter${p}`;
/** The hub's Helm values (a secret input: the OAuth client secret is inside). */
const hub = (rs: Rs, fn: (v: any) => void) => edit(rs, "archaeo-hub-release", (p) => fn(p.values), RELEASE);
const NH = "national-heritage";
const lbl = (name: string) => k8sLabels(NH, name);
/** The Jupyter unit's `docker run` line of a workstation's user data. */
const JUPYTER_RUN = "ExecStart=/usr/bin/docker run --rm --name archaeo-jupyter \\\n";
const SSHD_RUN = "ExecStart=/usr/bin/docker run --rm --name archaeo-sshd \\\n";
const dockerHubImage = `docker.io/library/python@sha256:${"a".repeat(64)}`;

const lifecycle = (rs: Rs, name: string, rules: object[]) => add(rs, {
    type: "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", name, parent: "archaeo-datasets",
    inputs: { bucket: bucketName(rs), rules },
});

const privilegedPod = (image: string) => ({
    hostPID: true, hostNetwork: true,
    containers: [{
        name: "agent", image,
        securityContext: { privileged: true, runAsUser: 0 },
        volumeMounts: [{ name: "host", mountPath: "/host", readOnly: true }],
    }],
    volumes: [{ name: "host", hostPath: { path: "/" } }],
});

const dangerous: Case[] = [
    // ------------------------------------------------------------------------------------------------
    // Class 1: isolation through resource policies, users/groups, pairings, RBAC, hub settings.
    {
        id: "bucket-policy-lets-phd-tiles-read-phd-sherds", class: 1, stack: "uni-archaeology",
        caughtBy: ["researcher-isolation"],
        title: "datasets bucket: let phd-tiles' workstation help phd-sherds label their sherds",
        reaches: "phd-tiles' workstation role reads every object under researchers/phd-sherds/ through the bucket policy",
        mutate: (rs) => editDoc(rs, "archaeo-datasets-policy", (d) => d.Statement.push({
            Sid: "TilesHelpsSherds", Effect: "Allow", Principal: { AWS: arnOf(rs, "archaeo-ws-phd-tiles-role") },
            Action: ["s3:GetObject", "s3:ListBucket"], Resource: [bucketArn(rs), `${bucketArn(rs)}/researchers/phd-sherds/*`],
        })),
    },
    {
        id: "key-policy-gives-researcher-direct-decrypt", class: 1, stack: "example",
        caughtBy: ["researcher-isolation"],
        title: "KMS key policy: let alice decrypt her exports locally (kms:Decrypt for her role)",
        reaches: "alice's researcher role uses the institution key directly, not through a service: any ciphertext under the key (snapshots copied out, SecureStrings read without decryption) opens",
        mutate: (rs) => editDoc(rs, "archaeo-key-cmk", (d) => d.Statement.push({
            Sid: "AliceDecrypts", Effect: "Allow", Principal: { AWS: arnOf(rs, "archaeo-researcher-alice-role") },
            Action: ["kms:Decrypt", "kms:GenerateDataKey"], Resource: "*",
        })),
    },
    {
        id: "workspace-attachments-swapped", class: 1, stack: "uni-archaeology",
        caughtBy: ["researcher-isolation"],
        title: "workstations: loop refactor of the workspace attachments",
        reaches: "phd-tiles' workstation mounts phd-sherds' workspace volume and vice versa (off-by-one in the loop)",
        mutate: (rs) => {
            const tiles = idOf(rs, "archaeo-ws-phd-tiles-workspace"), sherds = idOf(rs, "archaeo-ws-phd-sherds-workspace");
            edit(rs, "archaeo-ws-phd-tiles-workspace-attachment", (p) => { p.volumeId = sherds; });
            return edit(rs, "archaeo-ws-phd-sherds-workspace-attachment", (p) => { p.volumeId = tiles; });
        },
    },
    {
        id: "workstation-runs-with-other-researchers-profile", class: 1, stack: "uni-archaeology",
        caughtBy: ["researcher-isolation"],
        title: "phd-tiles' workstation: reuse the existing instance profile while IAM propagation is slow",
        reaches: "phd-tiles' workstation runs as phd-sherds' workstation role: phd-sherds' S3 prefix, Jupyter token and SSH keys",
        mutate: (rs) => edit(rs, "archaeo-ws-phd-tiles-instance", (p) => { p.iamInstanceProfile = get(rs, "archaeo-ws-phd-sherds-profile").inputs.name; }),
    },
    {
        id: "home-pv-mounts-other-access-point", class: 1, stack: "national-heritage",
        caughtBy: ["researcher-isolation"],
        title: "storage: ml-engineer's home PV copied from imaging-lead's",
        reaches: "ml-engineer's server mounts imaging-lead's EFS access point: imaging-lead's home directory",
        mutate: (rs) => {
            const fs = idOf(rs, "archaeo-storage-efs"), ap = idOf(rs, "archaeo-storage-home-imaging-lead");
            return edit(rs, "archaeo-researcher-ml-engineer-pv-server-home", (p) => { p.spec.csi.volumeHandle = `${fs}::${ap}`; });
        },
    },
    {
        id: "pod-identity-server-gets-other-role", class: 1, stack: "national-heritage",
        caughtBy: ["eks-pod-identities-match-researcher", "researcher-isolation"],
        title: "Pod Identity: ml-engineer's server uses imaging-lead's pods role until their own is approved",
        reaches: "ml-engineer's Jupyter server acts as imaging-lead's pods role: imaging-lead's S3 prefix",
        mutate: (rs) => edit(rs, "archaeo-researcher-ml-engineer-pods-server", (p) => { p.roleArn = arnOf(rs, "archaeo-researcher-imaging-lead-pods-role"); }),
    },
    {
        id: "hub-servers-share-one-service-account", class: 1, stack: "national-heritage",
        caughtBy: ["researcher-isolation"],
        title: "hub: pin singleuser.serviceAccountName while debugging the {username} template",
        reaches: "every researcher's server runs as researcher-imaging-lead, with imaging-lead's Pod Identity role and S3 prefix",
        mutate: (rs) => hub(rs, (v) => { v.singleuser.serviceAccountName = "researcher-imaging-lead"; }),
    },
    {
        id: "rolebinding-adds-other-researchers-job-sa", class: 1, stack: "national-heritage",
        caughtBy: ["researcher-isolation"],
        title: "RBAC: let imaging-lead's DDP jobs start workers in ml-engineer's namespace",
        reaches: "imaging-lead's jobs (service account researcher in researcher-imaging-lead) create Jobs in researcher-ml-engineer, which run as ml-engineer's service account with ml-engineer's data",
        mutate: (rs) => edit(rs, "archaeo-researcher-ml-engineer-role-binding", (p) => {
            p.subjects.push({ kind: "ServiceAccount", name: "researcher", namespace: "researcher-imaging-lead" });
        }),
    },
    {
        id: "clusterrolebinding-edit-to-researcher-namespace-sas", class: 1, stack: "national-heritage",
        caughtBy: ["k8s-port-forward-own-server", "k8s-shared-namespace-no-pod-reads", "researcher-isolation"],
        title: "RBAC: researchers' job service accounts may manage their pipelines cluster-wide (edit)",
        reaches: "every service account of researcher-imaging-lead gets the built-in edit ClusterRole everywhere: exec into any server pod, read every Secret in jupyterhub",
        mutate: (rs) => add(rs, {
            type: "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding", name: "archaeo-researcher-imaging-lead-pipelines", parent: "archaeo-researcher-imaging-lead",
            inputs: {
                apiVersion: "rbac.authorization.k8s.io/v1", kind: "ClusterRoleBinding",
                metadata: { name: "researcher-imaging-lead-pipelines", labels: lbl("researcher") },
                roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "edit" },
                subjects: [{ kind: "Group", apiGroup: "rbac.authorization.k8s.io", name: "system:serviceaccounts:researcher-imaging-lead" }],
            },
        }),
    },
    {
        id: "researchers-cluster-read-for-k9s", class: 1, stack: "national-heritage",
        caughtBy: ["researcher-isolation", "k8s-port-forward-own-server", "k8s-shared-namespace-no-pod-reads"],
        title: "RBAC: researchers may see cluster status in k9s (read-only: get/list/watch pods and nodes)",
        reaches: "each researcher lists pods in jupyterhub, whose specs carry every other server's JUPYTERHUB_API_TOKEN",
        mutate: (rs) => {
            add(rs, {
                type: "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole", name: "archaeo-hub-researchers-read", parent: "archaeo-hub",
                inputs: {
                    apiVersion: "rbac.authorization.k8s.io/v1", kind: "ClusterRole", metadata: { name: "researchers-read", labels: lbl("researcher") },
                    rules: [{ apiGroups: [""], resources: ["pods", "nodes", "namespaces"], verbs: ["get", "list", "watch"] }],
                },
            });
            return add(rs, {
                type: "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding", name: "archaeo-hub-researchers-read-binding", parent: "archaeo-hub",
                inputs: {
                    apiVersion: "rbac.authorization.k8s.io/v1", kind: "ClusterRoleBinding", metadata: { name: "researchers-read", labels: lbl("researcher") },
                    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "researchers-read" },
                    subjects: ["imaging-lead", "ml-engineer", "archivist"].map((id) => ({ apiGroup: "rbac.authorization.k8s.io", kind: "User", name: `archaeo:${id}` })),
                },
            });
        },
    },
    {
        id: "hub-service-with-admin-role", class: 1, stack: "national-heritage",
        caughtBy: ["researcher-isolation", "jupyterhub-values-secure"],
        title: "hub: register the usage-report service (admin API token)",
        reaches: "whoever holds the service's token (in the values, readable by the chart's hub) acts as a hub admin: every researcher's server and token",
        mutate: (rs) => hub(rs, (v) => {
            v.hub.services = { "usage-report": { apiToken: "0123456789abcdef0123456789abcdef", admin: true } };
            v.hub.loadRoles = { "usage-report": { services: ["usage-report"], scopes: ["admin:users", "admin:servers", "access:servers", "tokens"] } };
        }),
    },
    {
        id: "hub-oauth-userinfo-points-elsewhere", class: 1, stack: "national-heritage",
        caughtBy: ["researcher-isolation"],
        title: "hub: use the partner museum's SSO for login (token/userinfo endpoints)",
        reaches: "whoever runs login.partner-museum.example asserts any username, e.g. imaging-lead, and opens that researcher's server",
        mutate: (rs) => hub(rs, (v) => {
            const o = v.hub.config.GenericOAuthenticator;
            o.authorize_url = "https://login.partner-museum.example/oauth2/authorize";
            o.token_url = "https://login.partner-museum.example/oauth2/token";
            o.userdata_url = "https://login.partner-museum.example/oauth2/userinfo";
        }),
    },
    {
        id: "iam-user-with-access-key-reads-all-prefixes", class: 1, stack: "example",
        caughtBy: ["iam-policies-scoped", "pack-judges-every-type", "researcher-isolation"],
        title: "CI: an IAM user with an access key to sync researchers' outputs to the lab NAS",
        reaches: "a long-lived access key reads and deletes every researcher's prefix; it belongs to no researcher",
        mutate: (rs) => {
            add(rs, { type: "aws:iam/user:User", name: "archaeo-sync-user", inputs: { name: "archaeo-example-lab-example-sync", tags: {} }, outputs: { arn: `arn:aws:iam::${A}:user/archaeo-example-lab-example-sync`, id: "archaeo-example-lab-example-sync" } });
            add(rs, {
                type: "aws:iam/userPolicy:UserPolicy", name: "archaeo-sync-user-policy",
                inputs: { user: "archaeo-example-lab-example-sync", policy: doc(
                    { Sid: "Sync", Effect: "Allow", Action: ["s3:GetObject", "s3:DeleteObject", "s3:ListBucket"], Resource: [bucketArn(rs), `${bucketArn(rs)}/researchers/*`] },
                    { Sid: "Key", Effect: "Allow", Action: "kms:Decrypt", Resource: keyArn(rs), Condition: { StringEquals: { "kms:ViaService": `s3.${regionOf(rs)}.amazonaws.com` } } },
                ) },
            });
            return add(rs, { type: "aws:iam/accessKey:AccessKey", name: "archaeo-sync-user-key", inputs: { user: "archaeo-example-lab-example-sync" }, outputs: { id: "AKIAMOCKSYNC0000000", secret: "mock-secret" } });
        },
    },
    {
        id: "iam-group-sessions-to-all-workstations", class: 1, stack: "uni-archaeology",
        caughtBy: ["researcher-isolation", "ssm-sessions-no-shell"],
        title: "IAM: a 'lab-admins' group so the PI's own IAM user can help students on their workstations",
        reaches: "the PI's IAM user opens SSH and port-forwarding sessions to phd-tiles' and phd-sherds' workstations (their Jupyter, their workspace)",
        mutate: (rs) => {
            add(rs, { type: "aws:iam/group:Group", name: "archaeo-lab-admins", inputs: { name: "archaeo-uni-lab-admins" }, outputs: { arn: `arn:aws:iam::${A}:group/archaeo-uni-lab-admins`, id: "archaeo-uni-lab-admins" } });
            add(rs, {
                type: "aws:iam/groupPolicy:GroupPolicy", name: "archaeo-lab-admins-policy",
                inputs: { group: "archaeo-uni-lab-admins", policy: doc({
                    Sid: "Sessions", Effect: "Allow", Action: "ssm:StartSession",
                    Resource: [`arn:aws:ec2:${regionOf(rs)}:${A}:instance/*`, `arn:aws:ssm:${regionOf(rs)}::document/AWS-StartSSHSession`, `arn:aws:ssm:${regionOf(rs)}::document/AWS-StartPortForwardingSession`],
                }) },
            });
            return add(rs, { type: "aws:iam/groupMembership:GroupMembership", name: "archaeo-lab-admins-members", inputs: { name: "lab-admins", group: "archaeo-uni-lab-admins", users: ["pi.jones"] } });
        },
    },
    {
        id: "queue-policy-lets-researcher-forge-interruptions", class: 1, stack: "national-heritage",
        caughtBy: ["researcher-isolation"],
        title: "Karpenter queue: let imaging-lead test spot-interruption handling",
        reaches: "imaging-lead sends forged interruption events: Karpenter drains the GPU nodes running other researchers' servers and jobs",
        mutate: (rs) => editDoc(rs, "archaeo-gpu-interruptions-policy", (d) => d.Statement.push({
            Sid: "TestInterruptions", Effect: "Allow", Principal: { AWS: arnOf(rs, "archaeo-researcher-imaging-lead-identity-role") },
            Action: "sqs:SendMessage", Resource: d.Statement[0].Resource,
        })),
    },
    {
        id: "s3-access-point-for-conservator-review", class: 1, stack: "city-museum",
        caughtBy: ["pack-judges-every-type", "researcher-isolation", "resource-policies-no-public-principals"],
        title: "an S3 access point so the conservator can review the imaging team's captures (bucket delegates to access points)",
        reaches: "conservator's role reads everything under researchers/imaging/ through the access point's policy (the bucket policy delegates to the account's access points, as AWS documents)",
        mutate: (rs) => add(editDoc(rs, "archaeo-datasets-policy", (d) => d.Statement.push({
            Sid: "DelegateToAccessPoints", Effect: "Allow", Principal: { AWS: "*" }, Action: "*", Resource: [bucketArn(rs), `${bucketArn(rs)}/*`],
            Condition: { StringEquals: { "s3:DataAccessPointAccount": A } },
        })), {
            type: "aws:s3/accessPoint:AccessPoint", name: "archaeo-datasets-review", parent: "archaeo-datasets",
            inputs: {
                bucket: bucketName(rs), name: "archaeo-review",
                publicAccessBlockConfiguration: { blockPublicAcls: true, blockPublicPolicy: true, ignorePublicAcls: true, restrictPublicBuckets: true },
                policy: doc({ Sid: "Review", Effect: "Allow", Principal: { AWS: arnOf(rs, "archaeo-researcher-conservator-role") }, Action: "s3:GetObject",
                    Resource: `arn:aws:s3:${regionOf(rs)}:${A}:accesspoint/archaeo-review/object/researchers/imaging/*` }),
            },
            outputs: { arn: `arn:aws:s3:${regionOf(rs)}:${A}:accesspoint/archaeo-review` },
        }),
    },

    {
        id: "eks-view-policy-for-researcher", class: 1, stack: "national-heritage",
        caughtBy: ["researcher-isolation", "eks-access-entries-scoped"],
        title: "EKS: give ml-engineer the AWS view policy so the console shows the cluster's workloads",
        reaches: "AmazonEKSViewPolicy at cluster scope lists pods in jupyterhub: every server's spec with its JUPYTERHUB_API_TOKEN",
        mutate: (rs) => add(rs, {
            type: "aws:eks/accessPolicyAssociation:AccessPolicyAssociation", name: "archaeo-researcher-ml-engineer-view", parent: "archaeo-researcher-ml-engineer",
            inputs: {
                accessScope: { type: "cluster" }, clusterName: get(rs, "archaeo-researcher-ml-engineer-access").inputs.clusterName,
                policyArn: "arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy",
                principalArn: get(rs, "archaeo-researcher-ml-engineer-access").inputs.principalArn,
            },
        }),
    },
    // ------------------------------------------------------------------------------------------------
    // Class 2: recognition by exact spelling or type.
    {
        id: "directory-bucket-for-training-scratch", class: 2, stack: "example",
        caughtBy: ["pack-judges-every-type"],
        title: "S3 Express One Zone directory bucket next to the GPU for fast data loading",
        reaches: "copies of the heritage images in a bucket under SSE-S3 (not the institution's key), outside every bucket rule",
        mutate: (rs) => add(rs, {
            type: "aws:s3/directoryBucket:DirectoryBucket", name: "archaeo-scratch", parent: "archaeo-datasets",
            inputs: { bucket: "archaeo-scratch--use1-az4--x-s3", location: { name: "use1-az4", type: "AvailabilityZone" }, forceDestroy: true },
            outputs: { arn: `arn:aws:s3express:us-east-1:${A}:bucket/archaeo-scratch--use1-az4--x-s3`, id: "archaeo-scratch--use1-az4--x-s3" },
        }),
    },
    {
        id: "bucketv2-for-exports", class: 2, stack: "uni-archaeology",
        caughtBy: ["pack-judges-every-type", "s3-lifecycle-keeps-data", "stateful-data-survives-destroy"],
        title: "an exports bucket (BucketV2) for sharing figures with co-authors",
        reaches: "a bucket with no key encryption, no public access block, no versioning, force-destroyed with its contents",
        mutate: (rs) => add(rs, {
            type: "aws:s3/bucketV2:BucketV2", name: "archaeo-exports", parent: "archaeo-datasets",
            inputs: { bucket: "archaeo-uni-exports", forceDestroy: true, tags: { "archaeo-purpose": "exports" } },
            outputs: { arn: "arn:aws:s3:::archaeo-uni-exports", id: "archaeo-uni-exports", bucket: "archaeo-uni-exports" },
        }),
    },
    {
        id: "daemonset-node-exporter-privileged", class: 2, stack: "national-heritage",
        caughtBy: ["k8s-containers-non-root", "k8s-images-from-stack-ecr", "k8s-images-pinned-by-digest", "k8s-no-privileged"],
        title: "monitoring: node-exporter DaemonSet on every node",
        reaches: "a privileged root container with the host's PID namespace and / mounted on every GPU node: every researcher's server and home",
        mutate: (rs) => add(rs, {
            type: "kubernetes:apps/v1:DaemonSet", name: "archaeo-gpu-node-exporter", parent: "archaeo-gpu",
            inputs: {
                apiVersion: "apps/v1", kind: "DaemonSet", metadata: { name: "node-exporter", namespace: "kube-system", labels: lbl("node-exporter") },
                spec: { selector: { matchLabels: { app: "node-exporter" } }, template: { metadata: { labels: { app: "node-exporter" } }, spec: privilegedPod("quay.io/prometheus/node-exporter:v1.8.2") } },
            },
        }),
    },
    {
        id: "deployment-label-studio-as-root", class: 2, stack: "national-heritage",
        caughtBy: ["k8s-containers-non-root", "k8s-images-from-stack-ecr", "k8s-images-pinned-by-digest", "k8s-no-privileged"],
        title: "a shared Label Studio (Deployment) in the hub namespace",
        reaches: "a root container from Docker Hub by tag in the namespace holding every server, mounting imaging-lead's home claim",
        mutate: (rs) => add(rs, {
            type: "kubernetes:apps/v1:Deployment", name: "archaeo-hub-label-studio", parent: "archaeo-hub",
            inputs: {
                apiVersion: "apps/v1", kind: "Deployment", metadata: { name: "label-studio", namespace: "jupyterhub", labels: lbl("label-studio") },
                spec: {
                    replicas: 1, selector: { matchLabels: { app: "label-studio" } },
                    template: { metadata: { labels: { app: "label-studio" } }, spec: {
                        containers: [{ name: "app", image: "heartexlabs/label-studio:latest", securityContext: { runAsUser: 0 }, volumeMounts: [{ name: "data", mountPath: "/label-studio/data" }] }],
                        volumes: [{ name: "data", persistentVolumeClaim: { claimName: "home-imaging-lead" } }],
                    } },
                },
            },
        }),
    },
    {
        id: "cronjob-dataset-sync-privileged", class: 2, stack: "national-heritage",
        caughtBy: ["k8s-containers-non-root", "k8s-images-from-stack-ecr", "k8s-images-pinned-by-digest", "k8s-no-privileged"],
        title: "a nightly CronJob that syncs the homes to the archive",
        reaches: "a privileged root container with the node's / mounted, on a schedule, as a CronJob",
        mutate: (rs) => add(rs, {
            type: "kubernetes:batch/v1:CronJob", name: "archaeo-storage-nightly-sync", parent: "archaeo-storage",
            inputs: {
                apiVersion: "batch/v1", kind: "CronJob", metadata: { name: "nightly-sync", namespace: "jupyterhub", labels: lbl("storage") },
                spec: { schedule: "0 2 * * *", jobTemplate: { spec: { template: { spec: { ...privilegedPod("amazon/aws-cli:2.17.0"), restartPolicy: "OnFailure" } } } } },
            },
        }),
    },
    {
        id: "debug-pod-with-host-root", class: 2, stack: "national-heritage",
        caughtBy: ["k8s-containers-non-root", "k8s-images-from-stack-ecr", "k8s-images-pinned-by-digest", "k8s-no-privileged"],
        title: "a debug Pod for the NVIDIA driver issue",
        reaches: "a bare privileged Pod with hostPID and / mounted from the node",
        mutate: (rs) => add(rs, {
            type: "kubernetes:core/v1:Pod", name: "archaeo-gpu-debug", parent: "archaeo-gpu",
            inputs: { apiVersion: "v1", kind: "Pod", metadata: { name: "gpu-debug", namespace: "kube-system", labels: lbl("debug") }, spec: privilegedPod("nvcr.io/nvidia/cuda:12.4.1-base-ubuntu22.04") },
        }),
    },
    {
        id: "k8s-loadbalancer-service-for-hub", class: 2, stack: "national-heritage",
        caughtBy: ["k8s-loadbalancer-source-ranges"],
        title: "hub: a LoadBalancer Service so people stop using port-forward",
        reaches: "the hub's proxy on an internet-facing load balancer with no source ranges",
        mutate: (rs) => add(rs, {
            type: "kubernetes:core/v1:Service", name: "archaeo-hub-public", parent: "archaeo-hub",
            inputs: {
                apiVersion: "v1", kind: "Service", metadata: { name: "hub-public", namespace: "jupyterhub", labels: lbl("jupyterhub"), annotations: { "service.beta.kubernetes.io/aws-load-balancer-scheme": "internet-facing" } },
                spec: { type: "LoadBalancer", selector: { component: "proxy" }, ports: [{ port: 80, targetPort: 8000 }] },
            },
        }),
    },
    {
        id: "aws-alb-for-workstation-jupyter", class: 2, stack: "city-museum",
        caughtBy: ["pack-judges-every-type", "security-groups-ingress-union-limited", "security-groups-no-public-ingress", "security-groups-public-ports-limited"],
        title: "an ALB in front of the imaging workstation's Jupyter for the gallery demo",
        reaches: "Jupyter (token-only) on an internet-facing load balancer open to 0.0.0.0/0",
        mutate: (rs) => {
            add(rs, { type: "aws:ec2/securityGroup:SecurityGroup", name: "archaeo-network-alb-sg", parent: "archaeo-network",
                inputs: { description: "demo ALB", vpcId: idOf(rs, "archaeo-network-vpc"), ingress: [{ protocol: "tcp", fromPort: 443, toPort: 443, cidrBlocks: ["0.0.0.0/0"] }] }, outputs: { id: "sg-0a1b0000000000001" } });
            add(rs, { type: "aws:lb/loadBalancer:LoadBalancer", name: "archaeo-network-demo-alb", parent: "archaeo-network",
                inputs: { internal: false, loadBalancerType: "application", securityGroups: ["sg-0a1b0000000000001"], subnets: [idOf(rs, "archaeo-network-public")] } });
            add(rs, { type: "aws:lb/targetGroup:TargetGroup", name: "archaeo-network-demo-tg", parent: "archaeo-network",
                inputs: { port: 8888, protocol: "HTTP", targetType: "instance", vpcId: idOf(rs, "archaeo-network-vpc") } });
            return add(rs, { type: "aws:lb/targetGroupAttachment:TargetGroupAttachment", name: "archaeo-network-demo-tga", parent: "archaeo-network",
                inputs: { targetGroupArn: `arn:aws:mock:${regionOf(rs)}:${A}:aws:lb/targetGroup:TargetGroup/archaeo-network-demo-tg`, targetId: idOf(rs, "archaeo-ws-imaging-instance"), port: 8888 } });
        },
    },
    {
        id: "docker-cap-add-lowercase", class: 2, stack: "example",
        caughtBy: ["ec2-containers-unprivileged"],
        title: "workstation: FUSE inside Jupyter (cap-add sys_admin, lower case as in the FUSE docs)",
        reaches: "alice's Jupyter container holds CAP_SYS_ADMIN (docker upper-cases capability names): mount, escape to the host",
        mutate: (rs) => editUserData(rs, "archaeo-ws-alice-instance", (s) => replaceOnce(s, JUPYTER_RUN, `${JUPYTER_RUN}        --cap-add sys_admin --device /dev/fuse \\\n`)),
    },
    {
        id: "k8s-capability-lowercase", class: 2, stack: "national-heritage",
        caughtBy: ["helm-releases-pinned-and-unprivileged"],
        title: "hub: sshd sidecar needs sys_chroot for privilege separation",
        reaches: "the sshd container of every server adds sys_admin (containerd upper-cases names): CAP_SYS_ADMIN in each researcher's pod",
        mutate: (rs) => hub(rs, (v) => { v.singleuser.extraContainers[0].securityContext.capabilities.add = ["sys_admin", "sys_chroot"]; }),
    },
    {
        id: "cloud-config-flow-style-dropin", class: 2, stack: "example",
        caughtBy: ["ec2-containers-unprivileged"],
        title: "workstation: a systemd drop-in for Jupyter, written in flow style",
        reaches: "the drop-in replaces ExecStart with a privileged root container that mounts the host's /",
        mutate: (rs) => editUserData(rs, "archaeo-ws-alice-instance", (s) => replaceOnce(s, "write_files:\n",
            "write_files:\n  - {path: /etc/systemd/system/archaeo-jupyter.service.d/override.conf, permissions: '0644', content: \"[Service]\\nExecStart=\\nExecStart=/usr/bin/docker run --rm --name archaeo-jupyter --privileged --user 0:0 -v /:/host -p 127.0.0.1:8888:8888 ${IMAGE_REF} jupyter\\n\"}\n")),
    },
    {
        id: "cloud-config-base64-dropin", class: 2, stack: "uni-archaeology",
        caughtBy: ["ec2-containers-unprivileged"],
        title: "workstation: ship the Jupyter drop-in base64-encoded (it has backslashes)",
        reaches: "an encoded write_files entry replaces ExecStart with a privileged container that mounts the docker socket",
        mutate: (rs) => editUserData(rs, "archaeo-ws-pi-instance", (s) => replaceOnce(s, "write_files:\n",
            `write_files:\n  - path: /etc/systemd/system/archaeo-jupyter.service.d/override.conf\n    encoding: b64\n    content: ${b64("[Service]\nExecStart=\nExecStart=/usr/bin/docker run --rm --name archaeo-jupyter --privileged -v /var/run/docker.sock:/var/run/docker.sock -p 127.0.0.1:8888:8888 ${IMAGE_REF} jupyter\n")}\n`)),
    },
    {
        id: "cloud-config-gzip-dropin", class: 2, stack: "city-museum",
        caughtBy: ["ec2-containers-unprivileged"],
        title: "workstation: compress the sshd drop-in (user data is near 16 KB)",
        reaches: "a gzip+base64 write_files entry starts sshd as root with the host network and publishes 2222 on every address",
        mutate: (rs) => editUserData(rs, "archaeo-ws-imaging-instance", (s) => replaceOnce(s, "write_files:\n",
            `write_files:\n  - path: /etc/systemd/system/archaeo-sshd.service.d/override.conf\n    encoding: gz+b64\n    content: ${gzb64("[Service]\nExecStart=\nExecStart=/usr/bin/docker run --rm --name archaeo-sshd --user 0:0 --network host --pid host -v /:/host ${IMAGE_REF} sshd\n")}\n`)),
    },
    {
        id: "cloud-config-quoted-bootcmd", class: 2, stack: "example",
        caughtBy: ["ec2-containers-unprivileged", "workstation-image-from-stack-ecr"],
        title: "workstation: start nvidia-persistenced from a container at boot (\"bootcmd\")",
        reaches: "a quoted \"bootcmd\" key runs a privileged root container from Docker Hub before the workbench starts",
        mutate: (rs) => editUserData(rs, "archaeo-ws-alice-instance", (s) => replaceOnce(s, "#cloud-config\n",
            `#cloud-config\n"bootcmd":\n  - [docker, run, -d, --privileged, --pid, host, ${dockerHubImage}, nvidia-persistenced]\n`)),
    },
    {
        id: "cloud-config-anchor-reuses-unit", class: 2, stack: "uni-archaeology",
        caughtBy: ["ec2-containers-unprivileged", "ec2-containers-publish-loopback"],
        title: "workstation: a second Jupyter for TensorBoard reusing the unit through a YAML anchor",
        reaches: "an anchored runcmd list runs `docker run --privileged -v /:/host` as root on phd-tiles' host",
        mutate: (rs) => editUserData(rs, "archaeo-ws-phd-tiles-instance", (s) => replaceOnce(s, "runcmd:\n",
            "x-tensorboard: &tb [docker, run, -d, --privileged, -v, \"/:/host\", -p, \"0.0.0.0:6006:6006\", \"${IMAGE_REF}\", tensorboard]\nruncmd:\n  - *tb\n")),
    },
    {
        id: "docker-mount-bind-host-root", class: 2, stack: "city-museum",
        caughtBy: ["ec2-containers-unprivileged"],
        title: "workstation: give Jupyter the NVMe instance store (--mount type=bind)",
        reaches: "conservator's Jupyter container mounts the host's / read-write (--mount syntax instead of -v)",
        mutate: (rs) => editUserData(rs, "archaeo-ws-conservator-instance", (s) => replaceOnce(s, JUPYTER_RUN, `${JUPYTER_RUN}        --mount type=bind,source=/,target=/mnt/host \\\n`)),
    },
    {
        id: "nat-user-data-docker-host-root", class: 2, stack: "national-heritage",
        caughtBy: ["ec2-containers-unprivileged", "ec2-imds-hop-limit", "workstation-image-from-stack-ecr"],
        title: "NAT instance: ship flow logs from a container started in runcmd (-v /:/host)",
        reaches: "the NAT instance (every pod's egress) runs a privileged root container from Docker Hub with the host's / mounted",
        mutate: (rs) => edit(rs, "archaeo-cluster-network-nat", (p) => {
            p.userData = replaceOnce(p.userData, "runcmd:\n", `runcmd:\n  - [docker, run, -d, --privileged, -v, "/:/host", ${dockerHubImage}, ship-logs]\n`);
        }, "aws:ec2/instance:Instance"),
    },
    {
        id: "docker-v-host-root-example", class: 2, stack: "example",
        caughtBy: ["ec2-containers-unprivileged"],
        title: "workstation: let sshd see host logs (-v /:/host:ro)",
        reaches: "alice's sshd container reads the host's whole file system, including /run/archaeo and the instance's credentials cache",
        mutate: (rs) => editUserData(rs, "archaeo-ws-alice-instance", (s) => replaceOnce(s, SSHD_RUN, `${SSHD_RUN}        -v /:/host:ro \\\n`)),
    },
    {
        id: "helm-values-moved-to-value-file", class: 2, stack: "national-heritage",
        caughtBy: ["pack-judges-every-input"],
        title: "hub: move the authenticator config to a values file (valueYamlFiles) for readability",
        reaches: "the file sets the dummy authenticator and an admin user: anyone logs in as anyone; the pack sees only the inline values",
        mutate: (rs) => edit(rs, "archaeo-hub-release", (p) => {
            p.valueYamlFiles = [{ [ASSET_SIG]: "c44067f5952c0a294b673a41bacd8c17", text: "hub:\n  config:\n    JupyterHub:\n      authenticator_class: dummy\n    Authenticator:\n      admin_users: [imaging-lead]\n" }];
        }, RELEASE),
    },
    {
        id: "helm-postrender-script", class: 2, stack: "national-heritage",
        caughtBy: ["pack-judges-every-input"],
        title: "hub: a kustomize postrender to add our cost labels",
        reaches: "the post-renderer rewrites the rendered manifests after every check: any pod spec, any RBAC",
        mutate: (rs) => edit(rs, "archaeo-hub-release", (p) => { p.postrender = "./hack/kustomize-postrender.sh"; }, RELEASE),
    },

    {
        id: "docker-user-short-flag-root", class: 2, stack: "city-museum",
        caughtBy: ["ec2-containers-unprivileged"],
        title: "workstation: sshd needs root to read host keys (-u 0 after --user)",
        reaches: "imaging's sshd container runs as root: docker takes the last of --user / -u",
        mutate: (rs) => editUserData(rs, "archaeo-ws-imaging-instance", (s) => replaceOnce(s, `${SSHD_RUN}        --gpus all \\\n        --user 1000:1000 \\\n`, `${SSHD_RUN}        --gpus all \\\n        --user 1000:1000 -u 0 \\\n`)),
    },
    {
        id: "docker-seccomp-colon-syntax", class: 2, stack: "uni-archaeology",
        caughtBy: ["ec2-containers-unprivileged"],
        title: "workstation: py-spy profiling in Jupyter (--security-opt seccomp:unconfined)",
        reaches: "phd-sherds' Jupyter runs without a seccomp profile (the colon form docker still accepts)",
        mutate: (rs) => editUserData(rs, "archaeo-ws-phd-sherds-instance", (s) => replaceOnce(s, JUPYTER_RUN, `${JUPYTER_RUN}        --security-opt seccomp:unconfined \\\n`)),
    },
    {
        id: "docker-cap-add-all-lowercase", class: 2, stack: "uni-archaeology",
        caughtBy: ["ec2-containers-unprivileged"],
        title: "workstation: nsight profiling needs capabilities (--cap-add=all)",
        reaches: "phd-tiles' Jupyter container gets every capability (docker reads 'all' as ALL)",
        mutate: (rs) => editUserData(rs, "archaeo-ws-phd-tiles-instance", (s) => replaceOnce(s, JUPYTER_RUN, `${JUPYTER_RUN}        --cap-add=all \\\n`)),
    },
    {
        id: "managed-policy-exclusive-attachment", class: 2, stack: "uni-archaeology",
        caughtBy: ["iam-policies-scoped", "researcher-isolation", "researcher-roles-scoped"],
        title: "IAM: a customer-managed 'lab-results' policy attached with aws.iam.PolicyAttachment",
        reaches: "phd-tiles' workstation role reads and deletes every researcher's prefix through a managed policy attached by the exclusive attachment type",
        mutate: (rs) => {
            add(rs, {
                type: "aws:iam/policy:Policy", name: "archaeo-lab-results", parent: "archaeo-ws-phd-tiles",
                inputs: { name: "archaeo-uni-lab-results", policy: doc({ Sid: "Results", Effect: "Allow", Action: ["s3:GetObject", "s3:DeleteObject"], Resource: `${bucketArn(rs)}/researchers/*` }) },
                outputs: { arn: `arn:aws:iam::${A}:policy/archaeo-uni-lab-results`, id: `arn:aws:iam::${A}:policy/archaeo-uni-lab-results` },
            });
            return add(rs, {
                type: "aws:iam/policyAttachment:PolicyAttachment", name: "archaeo-lab-results-attachment", parent: "archaeo-ws-phd-tiles",
                inputs: { name: "lab-results", policyArn: `arn:aws:iam::${A}:policy/archaeo-uni-lab-results`, roles: [get(rs, "archaeo-ws-phd-tiles-role").inputs.name] },
            });
        },
    },
    // ------------------------------------------------------------------------------------------------
    // Class 3: IAM scoping accepted by key, not by value.
    {
        id: "startstop-any-workstation-tagged-star", class: 3, stack: "uni-archaeology",
        caughtBy: ["researcher-isolation", "researcher-roles-scoped"],
        title: "researcher role: start/stop scoped by the researcher tag (survives instance replacement)",
        reaches: "phd-tiles starts and stops every workstation: aws:ResourceTag/researcher = \"*\" matches every tagged one",
        mutate: (rs) => editDoc(rs, "archaeo-researcher-phd-tiles-policy", (d) => {
            const s = sid(d, "StartStopOwnWorkstation");
            s.Resource = `arn:aws:ec2:${regionOf(rs)}:${A}:instance/*`;
            s.Condition = { StringLike: { "aws:ResourceTag/researcher": "*" } };
        }),
    },
    {
        id: "sessions-any-instance-principal-account", class: 3, stack: "city-museum",
        caughtBy: ["researcher-isolation", "researcher-roles-scoped", "ssm-sessions-no-shell"],
        title: "researcher role: sessions scoped to our account (instance ids change on replace)",
        reaches: "conservator opens SSH sessions to the imaging workstation: aws:PrincipalAccount is always the account",
        mutate: (rs) => editDoc(rs, "archaeo-researcher-conservator-policy", (d) => {
            const s = sid(d, "SessionsToOwnWorkstationOnly");
            s.Resource = [`arn:aws:ec2:${regionOf(rs)}:${A}:instance/*`, ...s.Resource.filter((r: string) => r.includes(":document/"))];
            s.Condition = { StringEquals: { "aws:PrincipalAccount": A } };
        }),
    },
    {
        id: "prefix-forallvalues-on-absent-key", class: 3, stack: "example",
        caughtBy: ["iam-policies-scoped", "researcher-roles-scoped"],
        title: "workstation role: objects under researchers/ limited with a ForAllValues tag condition",
        reaches: "ForAllValues on aws:TagKeys, absent from GetObject, is true: alice's workstation reads every researcher's prefix",
        mutate: (rs) => editDoc(rs, "archaeo-ws-alice-policy", (d) => {
            const s = sid(d, "ReadWriteOwnPrefix");
            s.Resource = `${bucketArn(rs)}/researchers/*`;
            s.Condition = { "ForAllValues:StringEquals": { "aws:TagKeys": ["researcher"] } };
        }),
    },
    {
        id: "token-read-by-path-wildcard", class: 3, stack: "uni-archaeology",
        caughtBy: ["iam-policies-scoped", "researcher-isolation", "researcher-roles-scoped"],
        title: "researcher role: token access by parameter path so renames don't break",
        reaches: "phd-sherds reads and decrypts every researcher's Jupyter token (StringLike on the encryption context with a researcher wildcard)",
        mutate: (rs) => editDoc(rs, "archaeo-researcher-phd-sherds-policy", (d) => {
            const base = ssmPath(rs, "phd-sherds").replace(/\/phd-sherds$/, "");
            sid(d, "ReadOwnTokenAndStatus").Resource = [ssmArn(rs, `${base}/*`)];
            const dec = sid(d, "DecryptOwnToken");
            dec.Condition = { StringEquals: { "kms:ViaService": dec.Condition.StringEquals["kms:ViaService"] }, StringLike: { "kms:EncryptionContext:PARAMETER_ARN": ssmArn(rs, `${base}/*/jupyter-token`) } };
        }),
    },
    {
        id: "session-documents-wildcard-with-check", class: 3, stack: "example",
        caughtBy: ["iam-policies-scoped", "researcher-roles-scoped", "ssm-sessions-no-shell"],
        title: "researcher role: allow session documents generally, keep the document access check",
        reaches: "alice starts AWS-StartInteractiveCommand / shell sessions on her host (root through ssm-user's sudo): the condition key is present, its value is \"*\"",
        mutate: (rs) => editDoc(rs, "archaeo-researcher-alice-policy", (d) => {
            const s = sid(d, "SessionsToOwnWorkstationOnly");
            s.Resource = [s.Resource[0], `arn:aws:ssm:${regionOf(rs)}::document/*`];
            s.Condition = { StringLike: { "ssm:SessionDocumentAccessCheck": "*" } };
        }),
    },
    {
        id: "pods-role-prefix-condition-if-exists", class: 3, stack: "national-heritage",
        caughtBy: ["iam-policies-scoped", "researcher-isolation", "researcher-roles-scoped"],
        title: "pods role: object access on researchers/* narrowed by s3:prefix",
        reaches: "StringLikeIfExists on s3:prefix, absent from GetObject/PutObject, passes: imaging-lead's pods read and overwrite every researcher's prefix",
        mutate: (rs) => editDoc(rs, "archaeo-researcher-imaging-lead-pods-policy", (d) => {
            const s = sid(d, "ReadWriteOwnPrefix");
            s.Resource = `${bucketArn(rs)}/researchers/*`;
            s.Condition = { StringLikeIfExists: { "s3:prefix": "researchers/imaging-lead/*" } };
        }),
    },
    {
        id: "identity-trust-principal-account-only", class: 3, stack: "national-heritage",
        caughtBy: ["iam-trust-policies-scoped"],
        title: "researcher identity role: trust the account, limited by aws:PrincipalAccount (SSO roles get recreated)",
        reaches: "any principal of the account assumes imaging-lead's role: their EKS user, server and data",
        mutate: (rs) => editDoc(rs, "archaeo-researcher-imaging-lead-identity-role", (d) => {
            d.Statement[0].Principal = { AWS: `arn:aws:iam::${A}:root` };
            d.Statement[0].Condition = { StringEquals: { "aws:PrincipalAccount": A } };
        }, "assumeRolePolicy"),
    },
    {
        id: "bucket-policy-principal-star-account-condition", class: 3, stack: "uni-archaeology",
        caughtBy: ["researcher-isolation"],
        title: "datasets bucket: let lab members read each other's results (anyone in our account)",
        reaches: "Principal * with aws:PrincipalAccount = the account: every researcher role reads every other's prefix",
        mutate: (rs) => editDoc(rs, "archaeo-datasets-policy", (d) => d.Statement.push({
            Sid: "LabReadsResults", Effect: "Allow", Principal: "*", Action: "s3:GetObject", Resource: `${bucketArn(rs)}/researchers/*`,
            Condition: { StringEquals: { "aws:PrincipalAccount": A } },
        })),
    },
    {
        id: "review-read-source-ip-any", class: 3, stack: "city-museum",
        caughtBy: ["iam-policies-scoped", "researcher-isolation", "researcher-roles-scoped"],
        title: "researcher role: conservator reviews captures, only from the museum network (IpAddress)",
        reaches: "the IpAddress condition lists 0.0.0.0/0: conservator reads everything under researchers/ from anywhere",
        mutate: (rs) => editDoc(rs, "archaeo-researcher-conservator-policy", (d) => d.Statement.push({
            Sid: "ReviewCaptures", Effect: "Allow", Action: "s3:GetObject", Resource: `${bucketArn(rs)}/researchers/*`,
            Condition: { IpAddress: { "aws:SourceIp": ["0.0.0.0/0"] } },
        })),
    },
    {
        id: "key-decrypt-viaservice-wildcard", class: 3, stack: "national-heritage",
        caughtBy: ["researcher-roles-scoped"],
        title: "pods role: decrypt through 'any AWS service' so SageMaker experiments work",
        reaches: "StringLike kms:ViaService \"*\" is the key without a service: imaging-lead's pods decrypt anything under the institution key",
        mutate: (rs) => editDoc(rs, "archaeo-researcher-imaging-lead-pods-policy", (d) => {
            const s = sid(d, "StackKeyThroughS3");
            s.Action = ["kms:Decrypt", "kms:GenerateDataKey", "kms:CreateGrant"];
            s.Condition = { StringLike: { "kms:ViaService": "*" } };
        }),
    },

    {
        id: "list-bucket-prefix-star", class: 3, stack: "uni-archaeology",
        caughtBy: ["researcher-isolation", "researcher-roles-scoped"],
        title: "workstation role: list with s3:prefix \"*\" (mount-s3 lists the root)",
        reaches: "phd-sherds' workstation lists every researcher's file names (the prefix condition is present, its value is *)",
        mutate: (rs) => editDoc(rs, "archaeo-ws-phd-sherds-policy", (d) => { sid(d, "ListSharedAndOwnPrefixes").Condition = { StringLike: { "s3:prefix": ["*"] } }; }),
    },
    {
        id: "trust-userid-wildcard", class: 3, stack: "example",
        caughtBy: ["researcher-roles-scoped"],
        title: "researcher trust: match any session of the Identity Center role from our domain",
        reaches: "aws:userid \"*:*@example.org\" and no session name: every user of the shared Researcher permission set assumes alice's role",
        mutate: (rs) => editDoc(rs, "archaeo-researcher-alice-role", (d) => {
            d.Statement[0].Condition = { StringLike: { "aws:userid": "*:*@example.org" } };
        }, "assumeRolePolicy"),
    },
    {
        id: "resource-account-condition-any-bucket", class: 3, stack: "national-heritage",
        caughtBy: ["researcher-isolation", "researcher-roles-scoped"],
        title: "pods role: read any bucket of our own account (aws:ResourceAccount) for shared reference sets",
        reaches: "Resource * limited by aws:ResourceAccount = the account: archivist's pods read every researcher's prefix and the audit logs",
        mutate: (rs) => editDoc(rs, "archaeo-researcher-archivist-pods-policy", (d) => d.Statement.push({
            Sid: "ReferenceSets", Effect: "Allow", Action: ["s3:GetObject", "s3:ListBucket"], Resource: "*",
            Condition: { StringEquals: { "aws:ResourceAccount": A } },
        })),
    },
    // ------------------------------------------------------------------------------------------------
    // Class 4: retention and deletion of data.
    {
        id: "dataset-lifecycle-expires-datasets", class: 4, stack: "example",
        caughtBy: ["s3-lifecycle-keeps-data"],
        title: "cost: expire dataset objects after a year (they're in the archive anyway)",
        reaches: "every image under datasets/ is deleted 365 days after upload",
        mutate: (rs) => lifecycle(rs, "archaeo-datasets-lifecycle", [{ id: "expire-old", status: "Enabled", filter: { prefix: "datasets/" }, expiration: { days: 365 } }]),
    },
    {
        id: "dataset-lifecycle-purges-noncurrent", class: 4, stack: "uni-archaeology",
        caughtBy: ["s3-lifecycle-keeps-data"],
        title: "cost: drop old object versions after a day",
        reaches: "an overwritten or deleted image is unrecoverable a day later: versioning no longer protects the data",
        mutate: (rs) => lifecycle(rs, "archaeo-datasets-lifecycle", [{ id: "noncurrent", status: "Enabled", filter: {}, noncurrentVersionExpiration: { noncurrentDays: 1 }, expiration: { expiredObjectDeleteMarker: true } }]),
    },
    {
        id: "dataset-bucket-force-destroy", class: 4, stack: "city-museum",
        caughtBy: ["stateful-data-survives-destroy"],
        title: "bucket: forceDestroy so review stacks can be torn down",
        reaches: "a delete of the bucket removes every object in it",
        mutate: (rs) => edit(rs, "archaeo-datasets", (p) => { p.forceDestroy = true; }, BUCKET),
    },
    {
        id: "dataset-versioning-suspended", class: 4, stack: "national-heritage",
        caughtBy: ["s3-buckets-fully-configured"],
        title: "bucket: suspend versioning (Mountpoint overwrites double the storage)",
        reaches: "overwrites and deletes of images are final",
        mutate: (rs) => edit(rs, "archaeo-datasets-versioning", (p) => { p.versioningConfiguration.status = "Suspended"; }),
    },
    {
        id: "dlm-moved-to-dr-region", class: 4, stack: "uni-archaeology",
        caughtBy: ["snapshot-policies-in-volume-region"],
        title: "snapshots: run the DLM policy in the DR region (us-west-2)",
        reaches: "the policy runs where no workspace volume is: no workspace is snapshotted",
        mutate: (rs) => {
            const aws = get(rs, "archaeo-aws", "pulumi:providers:aws");
            const dr = structuredClone(aws) as any;
            dr.name = "archaeo-aws-dr";
            dr.urn = aws.urn.replace(/::archaeo-aws$/, "::archaeo-aws-dr");
            dr.id = "archaeo-aws-dr-id";
            for (const v of [dr.inputs, dr.state, dr.rawInputs, dr.rawState]) v.region = "us-west-2";
            rs.push(dr);
            return options(rs, "archaeo-snapshots-daily", { provider: `${dr.urn}::${dr.id}` });
        },
    },
    {
        id: "dlm-target-tag-typo", class: 4, stack: "example",
        caughtBy: ["stateful-data-backed-up"],
        title: "snapshots: rename the target tag value to plural 'workspaces'",
        reaches: "the policy's target tag matches no volume: alice's workspace is never snapshotted",
        mutate: (rs) => edit(rs, "archaeo-snapshots-daily", (p) => {
            const [k, v] = Object.entries(p.policyDetails.targetTags)[0];
            p.policyDetails.targetTags = { [k]: `${v}s` };
        }),
    },
    {
        id: "dlm-keeps-one-snapshot", class: 4, stack: "example",
        caughtBy: ["stateful-data-backed-up"],
        title: "cost: keep only the latest snapshot",
        reaches: "one day of history: a mistake noticed after a day is unrecoverable",
        mutate: (rs) => edit(rs, "archaeo-snapshots-daily", (p) => { p.policyDetails.schedules[0].retainRule.count = 1; }),
    },
    {
        id: "dlm-policy-disabled", class: 4, stack: "uni-archaeology",
        caughtBy: ["stateful-data-backed-up"],
        title: "snapshots: disable during the migration",
        reaches: "no workspace is snapshotted while disabled",
        mutate: (rs) => edit(rs, "archaeo-snapshots-daily", (p) => { p.state = "DISABLED"; }),
    },
    {
        id: "backup-rule-retention-one-day", class: 4, stack: "national-heritage",
        caughtBy: ["stateful-data-backed-up"],
        title: "cost: EFS backups deleted after a day",
        reaches: "homes recoverable for one day only",
        mutate: (rs) => edit(rs, "archaeo-storage-plan", (p) => { p.rules[0].lifecycle.deleteAfter = 1; }),
    },
    {
        id: "backup-selection-by-tag-no-match", class: 4, stack: "national-heritage",
        caughtBy: ["stateful-data-backed-up"],
        title: "backup: select by tag instead of ARN",
        reaches: "the selection tag is on no file system: the homes are never backed up",
        mutate: (rs) => edit(rs, "archaeo-storage-selection", (p) => {
            p.resources = [];
            p.selectionTags = [{ type: "STRINGEQUALS", key: "archaeo-backup", value: "daily" }];
        }),
    },
    {
        id: "eks-log-group-retention-one-day", class: 4, stack: "national-heritage",
        caughtBy: ["cloudwatch-log-groups-retained"],
        title: "cost: keep control-plane logs one day",
        reaches: "the Kubernetes audit log (who port-forwarded or exec'd into whose server) is gone after a day",
        mutate: (rs) => edit(rs, "archaeo-eks-logs", (p) => { p.retentionInDays = 1; }),
    },
    {
        id: "cognito-mfa-optional", class: 4, stack: "national-heritage",
        caughtBy: ["cognito-user-pools-mfa"],
        title: "hub login: MFA optional (researchers lose their phones)",
        reaches: "a phished password alone opens a researcher's server",
        mutate: (rs) => edit(rs, "archaeo-hub-users", (p) => { p.mfaConfiguration = "OPTIONAL"; }),
    },
    {
        id: "audit-log-extra-rule-expires-awslogs", class: 4, stack: "example",
        caughtBy: ["s3-dataset-access-logged", "s3-lifecycle-keeps-data"],
        title: "audit bucket: a second lifecycle rule to trim AWSLogs/ after a week",
        reaches: "the record of who read which images is deleted after 7 days, though the first rule still says 400",
        mutate: (rs) => edit(rs, "archaeo-audit-logs-retention", (p) => {
            p.rules.push({ id: "trim-awslogs", status: "Enabled", filter: { prefix: "AWSLogs/" }, expiration: { days: 7 } });
        }),
    },
    {
        id: "workspace-volume-unprotected", class: 4, stack: "uni-archaeology",
        caughtBy: ["stateful-resources-protected"],
        title: "workstations: drop protect/retain so renaming a researcher works",
        reaches: "a rename or removal deletes phd-tiles' workspace volume without a final snapshot",
        mutate: (rs) => {
            edit(rs, "archaeo-ws-phd-tiles-workspace", (p) => { p.finalSnapshot = false; });
            return options(rs, "archaeo-ws-phd-tiles-workspace", { protect: false, retainOnDelete: false });
        },
    },
    {
        id: "efs-homes-unprotected", class: 4, stack: "national-heritage",
        caughtBy: ["stateful-resources-protected"],
        title: "storage: drop protect/retain on the EFS file system so the staging cluster can be destroyed",
        reaches: "`pulumi destroy` (or a replace) deletes every researcher's home",
        mutate: (rs) => options(rs, "archaeo-storage-efs", { protect: false, retainOnDelete: false }),
    },
    {
        id: "ecr-expire-tagged-after-a-week", class: 4, stack: "city-museum",
        caughtBy: ["stateful-data-backed-up"],
        title: "cost: expire workbench images after a week",
        reaches: "the image a training run used is gone after a week: runs cannot be reproduced",
        mutate: (rs) => editDoc(rs, "archaeo-registry-lifecycle", (d) => { d.rules[1].selection.countNumber = 7; }),
    },
    {
        id: "backup-vault-force-destroy", class: 4, stack: "national-heritage",
        caughtBy: ["stateful-data-survives-destroy"],
        title: "backup vault: forceDestroy so the staging stack can be deleted",
        reaches: "deleting the vault deletes every recovery point of the homes",
        mutate: (rs) => {
            edit(rs, "archaeo-storage-vault", (p) => { p.forceDestroy = true; });
            return options(rs, "archaeo-storage-vault", { protect: false, retainOnDelete: false });
        },
    },
    {
        id: "dlm-retain-interval-one-day", class: 4, stack: "uni-archaeology",
        caughtBy: ["stateful-data-backed-up"],
        title: "snapshots: retain by age (1 day) instead of by count",
        reaches: "snapshots older than a day are deleted: one day of history",
        mutate: (rs) => edit(rs, "archaeo-snapshots-daily", (p) => { p.policyDetails.schedules[0].retainRule = { interval: 1, intervalUnit: "DAYS" }; }),
    },
    // ------------------------------------------------------------------------------------------------
    // Found by a cold review of the pack after the suite above passed (each missed then).
    {
        id: "ops-user-runs-commands-on-workstations", class: 1, stack: "uni-archaeology",
        caughtBy: ["researcher-isolation"],
        title: "ops: an IAM user that can run a patch command on every workstation",
        reaches: "ssm:SendCommand and EC2 Instance Connect on every researcher's workstation: root on each host, their data with it",
        mutate: (rs) => {
            const hosts = rs.filter((r) => r.type === "aws:ec2/instance:Instance" && /^archaeo-ws-/.test(r.name)).map((r) => r.state.arn);
            add(rs, { type: "aws:iam/user:User", name: "archaeo-ops-user", inputs: { name: "archaeo-ops" }, outputs: { arn: `arn:aws:iam::${A}:user/archaeo-ops`, id: "archaeo-ops" } });
            return add(rs, { type: "aws:iam/userPolicy:UserPolicy", name: "archaeo-ops-user-policy", inputs: { user: "archaeo-ops", policy: doc({ Sid: "Patch", Effect: "Allow", Action: ["ssm:SendCommand", "ec2-instance-connect:SendSSHPublicKey"], Resource: hosts }) } });
        },
    },
    {
        id: "hub-config-kubespawner-service-account", class: 1, stack: "national-heritage",
        caughtBy: ["researcher-isolation"],
        title: "hub: set the spawner's service account in hub.config (z2jh applies it over singleuser)",
        reaches: "every server runs as researcher-archivist: archivist's pods role, and their data, in everyone's server",
        mutate: (rs) => hub(rs, (v) => { v.hub.config.KubeSpawner = { service_account: "researcher-archivist" }; }),
    },
    {
        id: "hub-extra-volumes-as-dict", class: 1, stack: "national-heritage",
        caughtBy: ["researcher-isolation"],
        title: "hub: extraVolumes as a dict (z2jh 4.3+ style), home claim copied from a test value",
        reaches: "every server mounts home-archivist: archivist's EFS home read-write in everyone's server",
        mutate: (rs) => hub(rs, (v) => {
            const vols = v.singleuser.storage.extraVolumes as any[];
            v.singleuser.storage.extraVolumes = Object.fromEntries(vols.map((x) => [x.name, { ...x, name: undefined, ...(x.persistentVolumeClaim?.claimName === "home-{username}" ? { persistentVolumeClaim: { claimName: "home-archivist" } } : {}) }]));
        }),
    },
    {
        id: "efs-csi-addon-gets-researcher-pods-role", class: 1, stack: "national-heritage",
        caughtBy: ["researcher-isolation"],
        title: "EFS CSI add-on: reuse an existing role while the driver's role is rebuilt",
        reaches: "the EFS CSI controller (kube-system) runs with imaging-lead's pods role: whatever runs there acts as imaging-lead",
        mutate: (rs) => edit(rs, "archaeo-eks-aws-efs-csi-driver", (p) => { p.podIdentityAssociations[0].roleArn = arnOf(rs, "archaeo-researcher-imaging-lead-pods-role"); }),
    },
    {
        id: "networkpolicy-admits-every-namespace", class: 1, stack: "national-heritage",
        caughtBy: ["researcher-isolation"],
        title: "monitoring: let Prometheus scrape researcher pods (allow from all namespaces)",
        reaches: "network policies add up: every pod of the cluster may connect to archivist's pods (jobs, their open ports)",
        mutate: (rs) => add(rs, {
            type: "kubernetes:networking.k8s.io/v1:NetworkPolicy", name: "archaeo-researcher-archivist-np-scrape", parent: "archaeo-hub",
            inputs: { apiVersion: "networking.k8s.io/v1", kind: "NetworkPolicy", metadata: { name: "scrape", namespace: "researcher-archivist", labels: lbl("researcher") }, spec: { podSelector: {}, policyTypes: ["Ingress"], ingress: [{ from: [{ namespaceSelector: {} }] }] } },
        }),
    },
    {
        id: "cloud-config-archive-shell-part", class: 2, stack: "example",
        caughtBy: ["ec2-containers-unprivileged"],
        title: "workstation: split user data into a cloud-config-archive (config + a boot script)",
        reaches: "the archive's shell part starts a privileged container with the host's / and pid namespace",
        mutate: (rs) => editUserData(rs, "archaeo-ws-alice-instance", (t) => `#cloud-config-archive\n- type: text/cloud-config\n  content: |\n${t.split("\n").map((l) => `    ${l}`).join("\n")}\n- type: text/x-shellscript\n  content: !!binary |\n    ${b64("#!/bin/sh\ndocker run -d --privileged --pid=host -v /:/host img\n")}\n`),
    },
    {
        id: "spot-request-imds-optional", class: 2, stack: "uni-archaeology",
        caughtBy: ["ec2-imdsv2-required"],
        title: "cost: a spot request for phd-tiles' long training runs (copied from an old example)",
        reaches: "IMDSv1 on the spot instance: any SSRF in a notebook reads the instance role's credentials",
        mutate: (rs) => add(rs, {
            type: "aws:ec2/spotInstanceRequest:SpotInstanceRequest", name: "archaeo-ws-phd-tiles-spot", parent: "archaeo-ws-phd-tiles",
            inputs: { ami: "ami-0123456789abcdef0", instanceType: "g5.xlarge", iamInstanceProfile: "archaeo-uni-archaeology-uni-archaeology-ws-phd-tiles", metadataOptions: { httpTokens: "optional", httpPutResponseHopLimit: 1 }, tags: { researcher: "phd-tiles" } },
        }),
    },
    {
        id: "nodegroup-ssh-remote-access", class: 2, stack: "national-heritage",
        caughtBy: ["pack-judges-every-input"],
        title: "system nodes: enable SSH for debugging (remoteAccess with the ops key)",
        reaches: "without source security groups EKS opens port 22 on every node to 0.0.0.0/0",
        mutate: (rs) => edit(rs, "archaeo-eks-system", (p) => { p.remoteAccess = { ec2SshKey: "ops" }; }, "aws:eks/nodeGroup:NodeGroup"),
    },
];

const harmless: Case[] = [
    {
        id: "monitoring-read-only-clusterrolebinding", class: "harmless", stack: "national-heritage",
        title: "monitoring: read-only ClusterRole for nodes, namespaces and PVs (no secrets, no pods, no exec)",
        reaches: "node and volume inventory for the monitoring agent; nothing of any researcher",
        mutate: (rs) => {
            add(rs, {
                type: "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole", name: "archaeo-hub-monitoring-inventory", parent: "archaeo-hub",
                inputs: {
                    apiVersion: "rbac.authorization.k8s.io/v1", kind: "ClusterRole", metadata: { name: "monitoring-inventory", labels: lbl("monitoring") },
                    rules: [
                        { apiGroups: [""], resources: ["nodes", "namespaces", "persistentvolumes"], verbs: ["get", "list", "watch"] },
                        { apiGroups: [""], resources: ["nodes/metrics"], verbs: ["get"] },
                    ],
                },
            });
            return add(rs, {
                type: "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding", name: "archaeo-hub-monitoring-inventory-binding", parent: "archaeo-hub",
                inputs: {
                    apiVersion: "rbac.authorization.k8s.io/v1", kind: "ClusterRoleBinding", metadata: { name: "monitoring-inventory", labels: lbl("monitoring") },
                    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "monitoring-inventory" },
                    subjects: [{ kind: "ServiceAccount", name: "grafana-agent", namespace: "monitoring" }],
                },
            });
        },
    },
    {
        id: "add-cost-center-tag", class: "harmless", stack: "example",
        title: "tags: cost-center on alice's workstation",
        reaches: "nothing",
        mutate: (rs) => edit(rs, "archaeo-ws-alice-instance", (p) => { p.tags = { ...p.tags, "cost-center": "ARCH-101" }; }, "aws:ec2/instance:Instance"),
    },
    {
        id: "tighten-ssh-cidr", class: "harmless", stack: "city-museum",
        title: "network: SSH from 203.0.113.0/26 instead of /24",
        reaches: "fewer addresses",
        mutate: (rs) => edit(rs, "archaeo-network-in-ssh-203-0-113-0-24", (p) => { p.cidrIpv4 = "203.0.113.0/26"; p.description = "SSH (key-only) from 203.0.113.0/26"; }),
    },
    {
        id: "researcher-reads-own-object-versions", class: "harmless", stack: "example",
        title: "researcher role: alice restores earlier versions of her own files",
        reaches: "older versions of objects under researchers/alice/ only",
        mutate: (rs) => editDoc(rs, "archaeo-researcher-alice-policy", (d) => d.Statement.push({
            Sid: "OwnObjectVersions", Effect: "Allow", Action: ["s3:GetObjectVersion"], Resource: `${bucketArn(rs)}/researchers/alice/*`,
        })),
    },
    {
        id: "raise-eks-log-retention", class: "harmless", stack: "national-heritage",
        title: "logs: keep control-plane logs a year",
        reaches: "longer retention",
        mutate: (rs) => edit(rs, "archaeo-eks-logs", (p) => { p.retentionInDays = 365; }),
    },
    {
        id: "abort-incomplete-multipart-only", class: "harmless", stack: "uni-archaeology",
        title: "cost: abort incomplete multipart uploads after 7 days",
        reaches: "only parts of uploads that never completed are removed; no object or version",
        mutate: (rs) => lifecycle(rs, "archaeo-datasets-lifecycle", [{ id: "abort-mpu", status: "Enabled", filter: {}, abortIncompleteMultipartUpload: { daysAfterInitiation: 7 } }]),
    },
    {
        id: "keep-more-snapshots", class: "harmless", stack: "city-museum",
        title: "snapshots: keep 45 instead of 30",
        reaches: "longer history",
        mutate: (rs) => edit(rs, "archaeo-snapshots-daily", (p) => { p.policyDetails.schedules[0].retainRule.count = 45; }),
    },
    {
        id: "keep-backups-longer", class: "harmless", stack: "national-heritage",
        title: "backups: keep 35 days",
        reaches: "longer history",
        mutate: (rs) => edit(rs, "archaeo-storage-plan", (p) => { p.rules[0].lifecycle.deleteAfter = 35; }),
    },
    {
        id: "bigger-workspace-volume", class: "harmless", stack: "example",
        title: "alice's workspace 500 -> 1000 GiB",
        reaches: "more space, same key, same snapshots",
        mutate: (rs) => edit(rs, "archaeo-ws-alice-workspace", (p) => { p.size = 1000; }),
    },
    {
        id: "raise-budget", class: "harmless", stack: "city-museum",
        title: "budget: 300 -> 450 USD",
        reaches: "nothing",
        mutate: (rs) => edit(rs, "archaeo-budget-monthly", (p) => { p.limitAmount = "450.00"; }),
    },
    {
        id: "shorter-cull-timeout", class: "harmless", stack: "national-heritage",
        title: "hub: cull idle servers after 30 minutes instead of 45",
        reaches: "idle servers stop sooner",
        mutate: (rs) => hub(rs, (v) => { v.cull.timeout = 1800; }),
    },
    {
        id: "longer-audit-retention", class: "harmless", stack: "uni-archaeology",
        title: "audit: keep the dataset access log two years",
        reaches: "longer retention",
        mutate: (rs) => edit(rs, "archaeo-audit-logs-retention", (p) => { p.rules[0].expiration.days = 730; p.rules[0].noncurrentVersionExpiration.noncurrentDays = 730; }),
    },
    {
        id: "longer-cognito-passwords", class: "harmless", stack: "national-heritage",
        title: "hub login: passwords of at least 14 characters, with symbols",
        reaches: "stronger passwords",
        mutate: (rs) => edit(rs, "archaeo-hub-users", (p) => { p.passwordPolicy.minimumLength = 14; p.passwordPolicy.requireSymbols = true; }),
    },
    {
        id: "own-prefix-by-principal-tag", class: "harmless", stack: "city-museum",
        title: "researcher role: own prefix written with ${aws:PrincipalTag/researcher} (the role's own tag)",
        reaches: "the role's tag is researcher=conservator and its trust allows no session tags: researchers/conservator/* only",
        mutate: (rs) => editDoc(rs, "archaeo-researcher-conservator-policy", (d) => {
            sid(d, "ReadWriteOwnPrefix").Resource = `${bucketArn(rs)}/researchers/\${aws:PrincipalTag/researcher}/*`;
        }),
    },
    {
        id: "bigger-instance-type", class: "harmless", stack: "uni-archaeology",
        title: "pi's workstation g5.2xlarge -> g5.4xlarge",
        reaches: "more CPU and memory, same GPU",
        mutate: (rs) => edit(rs, "archaeo-ws-pi-instance", (p) => { p.instanceType = "g5.4xlarge"; }, "aws:ec2/instance:Instance"),
    },
    {
        id: "dataset-transition-to-glacier-ir", class: "harmless", stack: "example",
        title: "cost: move datasets/ to Glacier Instant Retrieval after 90 days",
        reaches: "the same objects and versions, same key, read in milliseconds; nothing expires",
        mutate: (rs) => lifecycle(rs, "archaeo-datasets-tiering", [{ id: "tier-datasets", status: "Enabled", filter: { prefix: "datasets/" }, transitions: [{ days: 90, storageClass: "GLACIER_IR" }] }]),
    },
    {
        id: "researcher-namespace-extra-label", class: "harmless", stack: "national-heritage",
        title: "namespaces: a cost-center label on archivist's namespace",
        reaches: "nothing",
        mutate: (rs) => edit(rs, "archaeo-researcher-archivist-namespace", (p) => { p.metadata.labels["archaeo/cost-center"] = "archives"; }),
    },
    {
        id: "researcher-reads-own-job-status", class: "harmless", stack: "national-heritage",
        title: "RBAC: archivist reads jobs/status in their own namespace",
        reaches: "status of archivist's own Jobs",
        mutate: (rs) => edit(rs, "archaeo-researcher-archivist-role", (p) => { p.rules.push({ apiGroups: ["batch"], resources: ["jobs/status"], verbs: ["get"] }); }),
    },
];

export const CASES: readonly Case[] = [...dangerous, ...harmless, ...BUDGET_CASES, ...GPU_CASES];

/**
 * Dangerous cases the pack does not catch yet, and harmless cases it raises a false alarm on. The suite
 * requires this set to be exact: when a change to the pack fixes one, remove its id here.
 */
export const OPEN: ReadonlySet<string> = new Set<string>([
    // The enforcer's topic -> researcher map travels inside its code archive (topics.json), which the pack does not read.
    "budget-topic-map-sorted-by-id",
]);
