/** The EKS control plane, its always-on system node group and the core add-ons. */
import * as crypto from "crypto";
import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";
import { CLUSTER_SHAPE, POOLS } from "../constants";
import { assumeRolePolicy } from "../iam";
import { keyUsePolicy, podIdentityTrust } from "./iam";
import { awsManagedPolicyArn } from "../arn";
import { CORE_ADDONS, CoreAddon, EKS_SUPPORT_TYPE, pinnedAddonVersion } from "../data/eks";

export { CORE_ADDONS };

export interface EksClusterArgs {
    clusterName: string;
    /** Physical name prefix of the cluster's IAM roles. */
    roleNamePrefix: string;
    region: string;
    partition: pulumi.Input<string>;
    kubernetesVersion: string;
    keyArn: pulumi.Input<string>;
    vpcId: pulumi.Input<string>;
    privateSubnetIds: pulumi.Input<string>[];
    /** CIDRs for the public API endpoint; empty turns it off (the API is then private to the VPC). */
    apiCidrs: readonly string[];
    /** IAM principals given cluster-admin through access entries (the configured admins and the deployer). */
    adminArns: readonly string[];
    /** The identity running `pulumi up`: Pulumi's own Kubernetes calls need its access entry first. */
    deployerArn: string;
    /** The stack's standard tags: launch-template tag specifications reach the instance and its volumes. */
    tags: Record<string, string>;
}

export const CONTROL_PLANE_LOGS = ["api", "audit", "authenticator", "controllerManager", "scheduler"];

/** A stable, value-derived suffix for a resource named after an ARN (reordering a list replaces nothing). */
export function arnSuffix(arn: string): string {
    return crypto.createHash("sha256").update(arn).digest("hex").slice(0, 10);
}

/** The admins' access entries: the configured ones and the deployer, once each. Pure. */
export function adminPrincipals(adminArns: readonly string[], deployerArn: string): string[] {
    if (/:root$/.test(deployerArn)) throw new Error(`pulumi up runs as the account root user (${deployerArn}); EKS access entries can't name it. Deploy with an IAM role or user.`);
    return [...new Set([...adminArns, deployerArn])];
}

/**
 * EKS control plane: API authentication with explicit access entries (no bootstrap entry for the
 * creator, which collides with an explicit one and leaves CI without access when a laptop created the
 * cluster), secrets envelope-encrypted with the stack key, pinned to STANDARD support (never billed
 * extended support), private endpoint, public endpoint only for listed CIDRs, all control-plane logs
 * to a KMS-encrypted log group; a one-node arm64 system node group (encrypted root, IMDSv2, tagged
 * instance and volumes) and the core add-ons with Pod Identity roles.
 */
export class EksCluster extends pulumi.ComponentResource {
    public readonly clusterName: pulumi.Output<string>;
    public readonly clusterArn: pulumi.Output<string>;
    public readonly endpoint: pulumi.Output<string>;
    public readonly certificateAuthority: pulumi.Output<string>;
    public readonly clusterSecurityGroupId: pulumi.Output<string>;
    public readonly kubeconfig: pulumi.Output<string>;
    /** Resolves once add-ons (CSI drivers, CNI) are installed and the deployer can call the API. */
    public readonly ready: pulumi.Resource[];

    constructor(name: string, args: EksClusterArgs, opts?: pulumi.ComponentResourceOptions) {
        super("archaeo:cluster:EksCluster", name, {}, opts);
        const child = { parent: this };
        const managed = (p: string) => awsManagedPolicyArn(args.partition, p);

        const clusterRole = new aws.iam.Role(`${name}-cluster-role`, {
            name: `${args.roleNamePrefix}-cluster`,
            assumeRolePolicy: JSON.stringify(assumeRolePolicy("eks.amazonaws.com", ["sts:AssumeRole", "sts:TagSession"])),
        }, child);
        const clusterPolicy = new aws.iam.RolePolicyAttachment(`${name}-cluster-policy`, { role: clusterRole.name, policyArn: managed("AmazonEKSClusterPolicy") }, child);
        const clusterKms = new aws.iam.RolePolicy(`${name}-cluster-kms`, {
            role: clusterRole.name,
            policy: pulumi.output(args.keyArn).apply((k) => JSON.stringify(keyUsePolicy(k, "SecretsEnvelopeEncryption"))),
        }, child);

        const logs = new aws.cloudwatch.LogGroup(`${name}-logs`, {
            // EKS writes control-plane logs to exactly this name; creating it first sets retention and the key.
            name: `/aws/eks/${args.clusterName}/cluster`,
            retentionInDays: 90, // days the control-plane logs are kept
            kmsKeyId: args.keyArn,
        }, child);

        const cluster = new aws.eks.Cluster(`${name}-cluster`, {
            name: args.clusterName,
            version: args.kubernetesVersion,
            roleArn: clusterRole.arn,
            accessConfig: { authenticationMode: "API", bootstrapClusterCreatorAdminPermissions: false },
            // STANDARD: at the end of standard support EKS upgrades the cluster instead of moving it to
            // extended support at $0.60/h (AWS EKS API UpgradePolicyRequest.supportType).
            upgradePolicy: { supportType: EKS_SUPPORT_TYPE },
            bootstrapSelfManagedAddons: false,
            encryptionConfig: { resources: ["secrets"], provider: { keyArn: args.keyArn } },
            enabledClusterLogTypes: CONTROL_PLANE_LOGS,
            vpcConfig: {
                subnetIds: args.privateSubnetIds,
                endpointPrivateAccess: true,
                endpointPublicAccess: args.apiCidrs.length > 0,
                ...(args.apiCidrs.length > 0 ? { publicAccessCidrs: [...args.apiCidrs] } : {}),
            },
        }, {
            parent: this,
            // The role's policy must outlive the cluster on destroy (and exist before it on create).
            dependsOn: [logs, clusterKms, clusterPolicy],
        });

        const adminAccess = adminPrincipals(args.adminArns, args.deployerArn).map((arn) => {
            const suffix = arnSuffix(arn);
            const entry = new aws.eks.AccessEntry(`${name}-admin-${suffix}`, { clusterName: cluster.name, principalArn: arn, type: "STANDARD" }, child);
            return new aws.eks.AccessPolicyAssociation(`${name}-admin-${suffix}-policy`, {
                clusterName: cluster.name,
                principalArn: arn,
                policyArn: pulumi.interpolate`arn:${args.partition}:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy`,
                accessScope: { type: "cluster" },
            }, { parent: this, dependsOn: [entry] });
        });

        // System node group: the only always-on node; hosts CoreDNS, Karpenter, the hub and the CSI controllers.
        const nodeRole = new aws.iam.Role(`${name}-system-node-role`, { name: `${args.roleNamePrefix}-system-node`, assumeRolePolicy: JSON.stringify(assumeRolePolicy("ec2.amazonaws.com")) }, child);
        const nodePolicies = ["AmazonEKSWorkerNodePolicy", "AmazonEC2ContainerRegistryReadOnly", "AmazonSSMManagedInstanceCore"].map((p) =>
            new aws.iam.RolePolicyAttachment(`${name}-system-node-${p}`, { role: nodeRole.name, policyArn: managed(p) }, child));
        const lt = new aws.ec2.LaunchTemplate(`${name}-system-lt`, {
            description: "Archaeo system nodes: encrypted root with the stack key, IMDSv2, the stack's tags",
            blockDeviceMappings: [{ deviceName: "/dev/xvda", ebs: { volumeSize: CLUSTER_SHAPE.systemRootGiB, volumeType: "gp3", encrypted: "true", kmsKeyId: args.keyArn, deleteOnTermination: "true" } }],
            metadataOptions: { httpEndpoint: "enabled", httpTokens: "required", httpPutResponseHopLimit: 1 },
            // Provider default tags don't reach what the node group launches: tag instance, volumes and ENIs here.
            tagSpecifications: ["instance", "volume", "network-interface"].map((resourceType) => ({ resourceType, tags: { ...args.tags, Name: `${args.clusterName}-system` } })),
        }, child);
        const systemNodes = new aws.eks.NodeGroup(`${name}-system`, {
            clusterName: cluster.name,
            nodeGroupName: POOLS.system,
            nodeRoleArn: nodeRole.arn,
            // One subnet, so one AZ: the hub's database is an EBS volume (z2jh hub.db.type sqlite-pvc, ReadWriteOnce,
            // the gp3 class) that exists in one AZ; a replacement node in the other AZ could never attach it and the
            // hub would stay Pending. GPU and CPU nodes (Karpenter) still use both AZs.
            subnetIds: [args.privateSubnetIds[0]],
            amiType: "AL2023_ARM_64_STANDARD",
            // The control plane's version: a Kubernetes upgrade moves the system node with it in the same `up`
            // (aws_eks_node_group `version`, updated in place by a rolling node update). Unset, the node group would
            // keep the version it was created with through every upgrade (tools/lifecycle.ts found it).
            version: cluster.version,
            capacityType: "ON_DEMAND",
            instanceTypes: [CLUSTER_SHAPE.systemInstanceType],
            scalingConfig: { minSize: 1, desiredSize: 1, maxSize: 2 },
            launchTemplate: { id: lt.id, version: pulumi.interpolate`${lt.latestVersion}` },
            labels: { [POOLS.label]: POOLS.system },
        }, { parent: this, dependsOn: nodePolicies });

        // Pod Identity roles for add-ons that call AWS.
        const podRole = (role: string, policies: string[], inline?: pulumi.Input<string>) => {
            const r = new aws.iam.Role(`${name}-${role}-role`, { name: `${args.roleNamePrefix}-${role}`, assumeRolePolicy: JSON.stringify(podIdentityTrust()) }, child);
            policies.forEach((p) => new aws.iam.RolePolicyAttachment(`${name}-${role}-${p.split("/").pop()}`, { role: r.name, policyArn: managed(p) }, child));
            if (inline) new aws.iam.RolePolicy(`${name}-${role}-kms`, { role: r.name, policy: inline }, child);
            return r;
        };
        const cniRole = podRole("vpc-cni", ["AmazonEKS_CNI_Policy"]);
        const ebsRole = podRole("ebs-csi", ["service-role/AmazonEBSCSIDriverPolicy"], pulumi.output(args.keyArn).apply((k) => JSON.stringify(keyUsePolicy(k, "EncryptedVolumes", `ec2.${args.region}.amazonaws.com`))));
        const efsRole = podRole("efs-csi", ["service-role/AmazonEFSCSIDriverPolicy"]);
        // The Mountpoint S3 CSI driver needs no role of its own: every S3 volume uses the pod's identity (authenticationSource: pod).
        const identity: Record<string, { role: aws.iam.Role; serviceAccount: string } | undefined> = {
            "vpc-cni": { role: cniRole, serviceAccount: "aws-node" },
            "aws-ebs-csi-driver": { role: ebsRole, serviceAccount: "ebs-csi-controller-sa" },
            "aws-efs-csi-driver": { role: efsRole, serviceAccount: "efs-csi-controller-sa" },
        };
        const config: Record<string, object | undefined> = { "vpc-cni": { enableNetworkPolicy: "true" } };

        // Add-on versions: pinned per Kubernetes version (infra/data/eks.json), never AWS's moving default, so an `up`
        // with no change rolls no DaemonSet. An add-on with no recorded pin is created at the version EKS marks default
        // and then held there (ignoreChanges) until its row is recorded; a Kubernetes upgrade moves the pinned ones.
        const addon = (addonName: CoreAddon, after: pulumi.Resource[]) => {
            const pinned = pinnedAddonVersion(args.kubernetesVersion, addonName);
            const version = pinned ?? aws.eks.getAddonVersionOutput({ addonName, kubernetesVersion: args.kubernetesVersion, mostRecent: false }, { parent: this }).version;
            const id = identity[addonName];
            return new aws.eks.Addon(`${name}-${addonName}`, {
                clusterName: cluster.name,
                addonName,
                addonVersion: version,
                resolveConflictsOnCreate: "OVERWRITE",
                resolveConflictsOnUpdate: "PRESERVE",
                ...(id ? { podIdentityAssociations: [{ roleArn: id.role.arn, serviceAccount: id.serviceAccount }] } : {}),
                ...(config[addonName] ? { configurationValues: JSON.stringify(config[addonName]) } : {}),
            }, { parent: this, dependsOn: after, ...(pinned ? {} : { ignoreChanges: ["addonVersion"] }) });
        };
        // The pod identity agent and the CNI first; CoreDNS and the CSI controllers need a node.
        const podIdentity = addon("eks-pod-identity-agent", []);
        const cni = addon("vpc-cni", [podIdentity]);
        const proxy = addon("kube-proxy", []);
        const rest = CORE_ADDONS.filter((a) => !(["eks-pod-identity-agent", "vpc-cni", "kube-proxy"] as const).some((x) => x === a)).map((a) => addon(a, [systemNodes, cni, podIdentity]));

        this.clusterName = cluster.name;
        this.clusterArn = cluster.arn;
        this.endpoint = cluster.endpoint;
        this.certificateAuthority = cluster.certificateAuthority.apply((c) => c.data ?? "");
        this.clusterSecurityGroupId = cluster.vpcConfig.apply((v) => v.clusterSecurityGroupId ?? "");
        this.kubeconfig = pulumi.all([cluster.name, cluster.endpoint, this.certificateAuthority]).apply(([n, endpoint, ca]) => kubeconfig(n, endpoint, ca, args.region));
        this.ready = [systemNodes, podIdentity, cni, proxy, ...rest, ...adminAccess];
        this.registerOutputs({ clusterName: this.clusterName, endpoint: this.endpoint });
    }
}

/** A kubeconfig that authenticates with `aws eks get-token` (the caller's AWS credentials). Pure. */
export function kubeconfig(clusterName: string, endpoint: string, caData: string, region: string): string {
    return JSON.stringify({
        apiVersion: "v1",
        kind: "Config",
        clusters: [{ name: clusterName, cluster: { server: endpoint, "certificate-authority-data": caData } }],
        contexts: [{ name: clusterName, context: { cluster: clusterName, user: clusterName } }],
        "current-context": clusterName,
        users: [{
            name: clusterName,
            user: { exec: { apiVersion: "client.authentication.k8s.io/v1beta1", command: "aws", args: ["eks", "get-token", "--cluster-name", clusterName, "--region", region, "--output", "json"] } },
        }],
    });
}
