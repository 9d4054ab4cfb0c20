/** Instance mode's network: one public subnet, no NAT gateway, the workstations' security group. */
import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";
import type { AccessMode } from "../config";
import { zoneSubnet, zoneSubnetIndex } from "../config";
import { PORTS } from "../constants";

export interface NetworkArgs {
    /** IPv4 CIDR of the VPC, /16 to /24. */
    vpcCidr: string;
    /** The stack's AZ (availabilityZone): its subnet is the VPC's first /24, as it always was. */
    availabilityZone: string;
    /** Other zones researchers were moved to (researchers[].zone): a subnet each, at zoneSubnetIndex. */
    otherZones?: readonly string[];
    region: string;
    /** "ssm" creates no ingress rule at all; "cidr" opens SSH (key-only) to `accessCidrs`, nothing else. */
    accessMode: AccessMode;
    /** Source CIDRs for `cidr` mode (config judges their breadth; 0.0.0.0/0 is refused). */
    accessCidrs: readonly string[];
}

/**
 * VPC with one public subnet in the workstations' AZ, an internet gateway (no NAT gateway: nothing
 * costs money while the workstations are stopped), an S3 gateway endpoint so dataset traffic stays in
 * AWS, and the workstations' security group. Jupyter and TensorBoard never listen on the instance's
 * address in any mode (only on 127.0.0.1), so `cidr` mode opens SSH alone; researchers reach Jupyter
 * through `ssh -L` or an SSM port forward.
 */
export class Network extends pulumi.ComponentResource {
    public readonly vpcId: pulumi.Output<string>;
    public readonly subnetId: pulumi.Output<string>;
    /** The workstation subnet of each zone: availabilityZone's and each of otherZones'. */
    public readonly subnetIds: Readonly<Record<string, pulumi.Output<string>>>;
    public readonly securityGroupId: pulumi.Output<string>;

    constructor(name: string, args: NetworkArgs, opts?: pulumi.ComponentResourceOptions) {
        super("archaeo:instance:Network", name, {}, opts);
        const child = { parent: this };

        const vpc = new aws.ec2.Vpc(`${name}-vpc`, { cidrBlock: args.vpcCidr, enableDnsHostnames: true, enableDnsSupport: true, tags: { Name: `${name}-vpc` } }, child);
        const igw = new aws.ec2.InternetGateway(`${name}-igw`, { vpcId: vpc.id, tags: { Name: `${name}-igw` } }, child);
        const subnet = new aws.ec2.Subnet(`${name}-public`, {
            vpcId: vpc.id,
            cidrBlock: firstSubnet(args.vpcCidr),
            availabilityZone: args.availabilityZone,
            mapPublicIpOnLaunch: false,
            tags: { Name: `${name}-public-${args.availabilityZone}` },
        }, child);
        const routes = new aws.ec2.RouteTable(`${name}-public-rt`, { vpcId: vpc.id, routes: [{ cidrBlock: "0.0.0.0/0", gatewayId: igw.id }], tags: { Name: `${name}-public-rt` } }, child);
        new aws.ec2.RouteTableAssociation(`${name}-public-rta`, { subnetId: subnet.id, routeTableId: routes.id }, child);
        // A moved researcher's zone gets its own public subnet, named by the zone (never by position), at a /24 fixed by
        // the zone's letter: adding or leaving a zone never moves another subnet or the workstations in it.
        const subnetIds: Record<string, pulumi.Output<string>> = { [args.availabilityZone]: subnet.id };
        for (const zone of [...new Set(args.otherZones ?? [])].filter((z) => z !== args.availabilityZone).sort()) {
            const extra = new aws.ec2.Subnet(`${name}-public-${zone}`, {
                vpcId: vpc.id,
                cidrBlock: zoneSubnet(args.vpcCidr, zoneSubnetIndex(zone, args.availabilityZone)),
                availabilityZone: zone,
                mapPublicIpOnLaunch: false,
                tags: { Name: `${name}-public-${zone}` },
            }, child);
            new aws.ec2.RouteTableAssociation(`${name}-public-rta-${zone}`, { subnetId: extra.id, routeTableId: routes.id }, child);
            subnetIds[zone] = extra.id;
        }
        new aws.ec2.VpcEndpoint(`${name}-s3`, {
            vpcId: vpc.id, serviceName: `com.amazonaws.${args.region}.s3`, vpcEndpointType: "Gateway", routeTableIds: [routes.id], tags: { Name: `${name}-s3` },
        }, child);

        const sg = new aws.ec2.SecurityGroup(`${name}-workstation-sg`, {
            vpcId: vpc.id,
            // Constant: a security group's description is immutable, and switching access modes must not replace the group.
            // EC2 allows only a-zA-Z0-9, spaces and ._-:/()#,@[]+=&;{}!$* here (no apostrophe): tools/api-rules checks it.
            description: "Archaeo workstation: inbound only as the access mode of the stack allows",
            tags: { Name: `${name}-workstation-sg`, "archaeo-access-mode": args.accessMode },
        }, child);
        // Outbound: SSM, ECR, S3 and package mirrors over HTTPS need egress; the provider removes AWS's default egress rule.
        new aws.vpc.SecurityGroupEgressRule(`${name}-egress-all`, {
            securityGroupId: sg.id, ipProtocol: "-1", cidrIpv4: "0.0.0.0/0", description: "All outbound (SSM, ECR, S3, package mirrors)",
        }, child);
        if (args.accessMode === "cidr") {
            for (const cidr of args.accessCidrs) {
                // Named by the CIDR, not its position: reordering accessCidrs replaces nothing.
                new aws.vpc.SecurityGroupIngressRule(`${name}-in-ssh-${cidr.replace(/[./:]/g, "-")}`, {
                    securityGroupId: sg.id, ipProtocol: "tcp", fromPort: PORTS.ssh, toPort: PORTS.ssh, cidrIpv4: cidr, description: `SSH (key-only) from ${cidr}`,
                }, child);
            }
        }

        this.vpcId = vpc.id;
        this.subnetId = subnet.id;
        this.subnetIds = subnetIds;
        this.securityGroupId = sg.id;
        this.registerOutputs({ vpcId: this.vpcId, subnetId: this.subnetId, securityGroupId: this.securityGroupId });
    }
}

/**
 * The first /24 of the VPC CIDR (the whole range when it is a /24), for the single public subnet: 251 usable
 * addresses (AWS keeps 5), so the 200 workstations a stack may have (MAX_RESEARCHERS) always fit and the
 * subnet never has to change with the researcher count (a new CIDR would replace the subnet and with it every
 * workstation; a larger one overlapping the old cannot even be created before the old is deleted). What does
 * not fit above 125 researchers is a change replacing every workstation in one `up` (new ones are created
 * before the old are deleted): the plan's quota table says so.
 */
export function firstSubnet(vpcCidr: string): string {
    const [addr, prefix] = vpcCidr.split("/");
    return `${addr}/${Math.max(Number(prefix), 24)}`;
}
