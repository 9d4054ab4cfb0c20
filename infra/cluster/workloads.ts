import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";
import * as k8s from "@pulumi/kubernetes";
import * as random from "@pulumi/random";
import { ddpJob, idleStopRbac, networkPolicies, standardLabels, storageObjects, workbenchDeployments, workbenchServices, WorkbenchParams } from "./manifests";

export interface ClusterStorageArgs {
    institution: string;
    stack: string;
    namespace: string;
    vpcId: pulumi.Input<string>;
    vpcCidr: string;
    privateSubnetIds: pulumi.Input<string>[];
    keyArn: pulumi.Input<string>;
    k8sProvider: k8s.Provider;
    /** Protect and retain the file system and the workspace claim. Defaults to true. */
    protect?: boolean;
    dependsOn: pulumi.Input<pulumi.Resource>[];
}

/**
 * Storage: the default gp3 StorageClass (encrypted with the stack key, Retain), an EFS file system
 * encrypted with the stack key (protected) with mount targets in both private subnets, its
 * StorageClass (Retain) and the shared ReadWriteMany /workspace claim, so Jupyter, SSH, TensorBoard and
 * training jobs share one workspace not pinned to an AZ.
 */
export class ClusterStorage extends pulumi.ComponentResource {
    public readonly fileSystemId: pulumi.Output<string>;
    public readonly namespace: k8s.core.v1.Namespace;
    public readonly workspaceClaim: k8s.core.v1.PersistentVolumeClaim;

    constructor(name: string, args: ClusterStorageArgs, opts?: pulumi.ComponentResourceOptions) {
        super("archaeo:cluster:ClusterStorage", name, {}, opts);
        const child = { parent: this };
        const protect = args.protect ?? true;
        const k8sOpts = { parent: this, provider: args.k8sProvider, dependsOn: args.dependsOn as pulumi.Resource[] };

        const fs = new aws.efs.FileSystem(`${name}-efs`, {
            encrypted: true,
            kmsKeyId: args.keyArn,
            performanceMode: "generalPurpose",
            throughputMode: "elastic",
            lifecyclePolicies: [{ transitionToIa: "AFTER_30_DAYS" }],
            tags: { Name: `${name}-workspace` },
        }, { parent: this, protect, retainOnDelete: protect });
        const sg = new aws.ec2.SecurityGroup(`${name}-efs-sg`, { vpcId: args.vpcId, description: "Archaeo EFS workspace: NFS from the VPC", tags: { Name: `${name}-efs-sg` } }, child);
        new aws.vpc.SecurityGroupIngressRule(`${name}-efs-nfs`, { securityGroupId: sg.id, ipProtocol: "tcp", fromPort: 2049, toPort: 2049, cidrIpv4: args.vpcCidr, description: "NFS from the cluster" }, child);
        const targets = args.privateSubnetIds.map((subnetId, i) =>
            new aws.efs.MountTarget(`${name}-efs-mt-${i}`, { fileSystemId: fs.id, subnetId, securityGroups: [sg.id] }, child));

        this.namespace = new k8s.core.v1.Namespace(`${name}-namespace`, {
            metadata: { name: args.namespace, labels: { ...standardLabels(args.institution, args.stack), "pod-security.kubernetes.io/enforce": "restricted" } },
        }, k8sOpts);

        const objects = (fileSystemId: string, keyArn: string) =>
            storageObjects({ institution: args.institution, stack: args.stack, namespace: args.namespace, keyArn, fileSystemId });
        const shape = objects("", "");
        const live = pulumi.all([fs.id, args.keyArn]).apply(([id, key]) => objects(id, key));
        new k8s.storage.v1.StorageClass(`${name}-gp3`, { ...shape.gp3, parameters: live.gp3.parameters }, k8sOpts);
        const efsClass = new k8s.storage.v1.StorageClass(`${name}-efs-class`, { ...shape.efs, parameters: live.efs.parameters }, { ...k8sOpts, dependsOn: [...k8sOpts.dependsOn, ...targets] });
        this.workspaceClaim = new k8s.core.v1.PersistentVolumeClaim(`${name}-workspace`, shape.workspace, {
            parent: this, provider: args.k8sProvider, dependsOn: [this.namespace, efsClass], protect, retainOnDelete: protect,
        });

        this.fileSystemId = fs.id;
        this.registerOutputs({ fileSystemId: this.fileSystemId });
    }
}

export interface K8sWorkbenchArgs extends Omit<WorkbenchParams, "image"> {
    image: pulumi.Input<string>;
    sshPublicKeys: readonly string[];
    k8sProvider: k8s.Provider;
    ddp: { nodes: number; gpusPerNode: number; spot: boolean };
    dependsOn: pulumi.Input<pulumi.Resource>[];
}

/**
 * The workbench on Kubernetes, in the institution's namespace: Jupyter (one GPU, token from a Secret
 * made of random.RandomPassword, idle-stop sidecar), SSH (key-only) and TensorBoard co-located on the
 * Jupyter node, all from the stack's image by digest, non-root, read-only root filesystems, /dev/shm
 * in memory; ClusterIP services (NLBs restricted to the access CIDRs in cidr mode); default-deny
 * NetworkPolicies. Deployments start at zero replicas: `start` scales them up, idle-stop down.
 */
export class K8sWorkbench extends pulumi.ComponentResource {
    public readonly jupyterToken: pulumi.Output<string>;
    public readonly ddpTemplate: pulumi.Output<string>;

    constructor(name: string, args: K8sWorkbenchArgs, opts?: pulumi.ComponentResourceOptions) {
        super("archaeo:cluster:K8sWorkbench", name, {}, opts);
        const k8sOpts = { parent: this, provider: args.k8sProvider, dependsOn: args.dependsOn as pulumi.Resource[] };
        const labels = standardLabels(args.institution, args.stack);

        const token = new random.RandomPassword(`${name}-jupyter-token`, { length: 48, special: false }, { parent: this });
        new k8s.core.v1.Secret(`${name}-jupyter-token`, {
            metadata: { name: "jupyter-token", namespace: args.namespace, labels },
            type: "Opaque",
            stringData: { token: token.result },
        }, k8sOpts);
        new k8s.core.v1.ConfigMap(`${name}-authorized-keys`, {
            metadata: { name: "authorized-keys", namespace: args.namespace, labels },
            data: { authorized_keys: args.sshPublicKeys.join("\n") + "\n" },
        }, k8sOpts);

        const plain = (image: string): WorkbenchParams => ({ ...args, image });
        const rbac = idleStopRbac(plain(""));
        // Pod Identity for the workbench service account is set up by the cluster program (S3 datasets).
        new k8s.core.v1.ServiceAccount(`${name}-idle-stop-sa`, rbac.serviceAccount, k8sOpts);
        new k8s.rbac.v1.Role(`${name}-idle-stop-role`, rbac.role, k8sOpts);
        new k8s.rbac.v1.RoleBinding(`${name}-idle-stop-binding`, rbac.roleBinding, k8sOpts);

        networkPolicies(plain("")).forEach((np) => new k8s.networking.v1.NetworkPolicy(`${name}-np-${np.metadata.name}`, np, k8sOpts));

        const shape = workbenchDeployments(plain(""));
        const live = pulumi.output(args.image).apply((image) => workbenchDeployments(plain(image)));
        for (const role of ["jupyter", "sshd", "tensorboard"] as const) {
            new k8s.apps.v1.Deployment(`${name}-${role}`, { metadata: shape[role].metadata, spec: live[role].spec }, {
                ...k8sOpts,
                // Researchers start and idle-stop scales the workbench; Pulumi must not undo either.
                ignoreChanges: ["spec.replicas"],
            });
        }
        const services = workbenchServices(plain(""));
        for (const role of ["jupyter", "sshd", "tensorboard"] as const) new k8s.core.v1.Service(`${name}-${role}-svc`, services[role], k8sOpts);

        this.jupyterToken = pulumi.secret(token.result);
        this.ddpTemplate = pulumi.output(args.image).apply((image) => {
            const d = ddpJob({ namespace: args.namespace, institution: args.institution, stack: args.stack, image, memoryGiB: args.memoryGiB, ...args.ddp, nodes: args.ddp.nodes, gpusPerNode: args.ddp.gpusPerNode, spot: args.ddp.spot });
            return [d.service, d.job].map((o) => JSON.stringify(o)).join("\n---\n");
        });
        this.registerOutputs({ ddpTemplate: this.ddpTemplate });
    }
}
