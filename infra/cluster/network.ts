import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";
import { CLUSTER_SHAPE } from "../constants";

export interface ClusterNetworkArgs {
    /** IPv4 CIDR of the VPC, /16 to /20 (four /24+ subnets are carved from it). */
    vpcCidr: string;
    region: string;
    /** Two AZs: the EKS control plane needs subnets in at least two. */
    availabilityZones: [string, string];
    /** EKS cluster name, for the subnet discovery tags of Karpenter and the load balancers. */
    clusterName: string;
    /** AMI for the NAT instance (Amazon Linux 2023 arm64). */
    natAmiId: pulumi.Input<string>;
    /** The stack key: the NAT instance's root volume is encrypted with it too. */
    keyArn: pulumi.Input<string>;
    /** Tags for the NAT root volume (provider default tags do not reach it). */
    volumeTags: Record<string, string>;
}

/**
 * Cluster network: nodes in two private subnets; two public subnets hold only the NAT instance and
 * load balancers. Egress goes through one t4g.nano NAT instance (~$3/month, against ~$33 for a NAT
 * gateway), and S3 through a free gateway endpoint, so the idle floor stays low. The NAT instance is
 * a single point of egress: while it is down nodes cannot reach the internet (pip, image pulls).
 */
export class ClusterNetwork extends pulumi.ComponentResource {
    public readonly vpcId: pulumi.Output<string>;
    public readonly privateSubnetIds: pulumi.Output<string>[];
    public readonly publicSubnetIds: pulumi.Output<string>[];
    public readonly vpcCidr: string;

    constructor(name: string, args: ClusterNetworkArgs, opts?: pulumi.ComponentResourceOptions) {
        super("archaeo:cluster:ClusterNetwork", name, {}, opts);
        const child = { parent: this };
        const subnets = carveSubnets(args.vpcCidr);

        const vpc = new aws.ec2.Vpc(`${name}-vpc`, { cidrBlock: args.vpcCidr, enableDnsHostnames: true, enableDnsSupport: true, tags: { Name: `${name}-vpc` } }, child);
        const igw = new aws.ec2.InternetGateway(`${name}-igw`, { vpcId: vpc.id, tags: { Name: `${name}-igw` } }, child);
        const publicRt = new aws.ec2.RouteTable(`${name}-public-rt`, { vpcId: vpc.id, routes: [{ cidrBlock: "0.0.0.0/0", gatewayId: igw.id }], tags: { Name: `${name}-public-rt` } }, child);

        const publics = args.availabilityZones.map((az, i) => {
            const s = new aws.ec2.Subnet(`${name}-public-${i}`, {
                vpcId: vpc.id, cidrBlock: subnets.public[i], availabilityZone: az, mapPublicIpOnLaunch: false,
                tags: { Name: `${name}-public-${az}`, "kubernetes.io/role/elb": "1", [`kubernetes.io/cluster/${args.clusterName}`]: "shared" },
            }, child);
            new aws.ec2.RouteTableAssociation(`${name}-public-rta-${i}`, { subnetId: s.id, routeTableId: publicRt.id }, child);
            return s;
        });

        const natSg = new aws.ec2.SecurityGroup(`${name}-nat-sg`, { vpcId: vpc.id, description: "Archaeo NAT instance: forwards egress from the VPC", tags: { Name: `${name}-nat-sg` } }, child);
        new aws.vpc.SecurityGroupIngressRule(`${name}-nat-in-vpc`, { securityGroupId: natSg.id, ipProtocol: "-1", cidrIpv4: args.vpcCidr, description: "Traffic from the VPC to forward" }, child);
        new aws.vpc.SecurityGroupEgressRule(`${name}-nat-out`, { securityGroupId: natSg.id, ipProtocol: "-1", cidrIpv4: "0.0.0.0/0", description: "Forwarded egress" }, child);

        const nat = new aws.ec2.Instance(`${name}-nat`, {
            ami: args.natAmiId,
            instanceType: CLUSTER_SHAPE.natInstanceType,
            subnetId: publics[0].id,
            associatePublicIpAddress: true,
            sourceDestCheck: false,
            vpcSecurityGroupIds: [natSg.id],
            metadataOptions: { httpEndpoint: "enabled", httpTokens: "required", httpPutResponseHopLimit: 1 },
            rootBlockDevice: { volumeType: "gp3", volumeSize: CLUSTER_SHAPE.natRootGiB, encrypted: true, kmsKeyId: args.keyArn, deleteOnTermination: true, tags: { Name: `${name}-nat-root`, ...args.volumeTags } },
            userData: natUserData(args.vpcCidr),
            userDataReplaceOnChange: true,
            tags: { Name: `${name}-nat` },
        }, { ...child, ignoreChanges: ["ami"] });

        const privateRt = new aws.ec2.RouteTable(`${name}-private-rt`, {
            vpcId: vpc.id,
            routes: [{ cidrBlock: "0.0.0.0/0", networkInterfaceId: nat.primaryNetworkInterfaceId }],
            tags: { Name: `${name}-private-rt` },
        }, child);
        const privates = args.availabilityZones.map((az, i) => {
            const s = new aws.ec2.Subnet(`${name}-private-${i}`, {
                vpcId: vpc.id, cidrBlock: subnets.private[i], availabilityZone: az,
                tags: { Name: `${name}-private-${az}`, "kubernetes.io/role/internal-elb": "1", "karpenter.sh/discovery": args.clusterName },
            }, child);
            new aws.ec2.RouteTableAssociation(`${name}-private-rta-${i}`, { subnetId: s.id, routeTableId: privateRt.id }, child);
            return s;
        });

        new aws.ec2.VpcEndpoint(`${name}-s3`, {
            vpcId: vpc.id, serviceName: `com.amazonaws.${args.region}.s3`, vpcEndpointType: "Gateway", routeTableIds: [privateRt.id, publicRt.id], tags: { Name: `${name}-s3` },
        }, child);

        this.vpcId = vpc.id;
        this.vpcCidr = args.vpcCidr;
        this.privateSubnetIds = privates.map((s) => s.id);
        this.publicSubnetIds = publics.map((s) => s.id);
        this.registerOutputs({ vpcId: this.vpcId, privateSubnetIds: this.privateSubnetIds });
    }
}

/** Two public and two private subnets from the VPC CIDR: the first four quarters' first blocks. */
export function carveSubnets(vpcCidr: string): { public: [string, string]; private: [string, string] } {
    const [addr, p] = vpcCidr.split("/");
    const prefix = Number(p);
    const sub = prefix + 2;
    const base = addr.split(".").map(Number).reduce((a, o) => a * 256 + o, 0);
    const size = 2 ** (32 - sub);
    const at = (i: number) => {
        const v = base + i * size;
        return `${[24, 16, 8, 0].map((s) => Math.floor(v / 2 ** s) % 256).join(".")}/${sub}`;
    };
    return { private: [at(0), at(1)], public: [at(2), at(3)] };
}

/** cloud-init for the NAT instance: IP forwarding and masquerading of the VPC's traffic. */
export function natUserData(vpcCidr: string): string {
    return [
        "#cloud-config",
        "packages:",
        "  - iptables-services",
        "write_files:",
        "  - path: /etc/sysctl.d/90-archaeo-nat.conf",
        "    content: |",
        "      net.ipv4.ip_forward = 1",
        "runcmd:",
        "  - [sysctl, --system]",
        `  - [sh, -c, "iptables -t nat -A POSTROUTING -s ${vpcCidr} -o $(ip -o route get 1.1.1.1 | awk '{print $5}') -j MASQUERADE"]`,
        "  - [sh, -c, 'iptables -F FORWARD && service iptables save']",
        "  - [systemctl, enable, --now, iptables]",
        "",
    ].join("\n");
}
