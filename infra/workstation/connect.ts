import { WORKBENCH_PORTS } from "../components/network";
import type { AccessMode } from "../config";

export const RESEARCHER_USER = "researcher";

export interface ConnectInfo {
    ssh: string;
    jupyterTunnel: string;
    tensorboardTunnel: string;
    jupyterUrl: string;
    tensorboardUrl: string;
    start: string;
    stop: string;
}

/** The exact commands and URLs researchers use, for either access mode. Pure. */
export function connectInfo(a: { instanceId: string; region: string; accessMode: AccessMode; publicIp?: string }): ConnectInfo {
    const start = `aws ec2 start-instances --region ${a.region} --instance-ids ${a.instanceId}`;
    const stop = `aws ec2 stop-instances --region ${a.region} --instance-ids ${a.instanceId}`;
    if (a.accessMode === "ssm") {
        const forward = (port: number) =>
            `aws ssm start-session --region ${a.region} --target ${a.instanceId} --document-name AWS-StartPortForwardingSession ` +
            `--parameters '{"portNumber":["${port}"],"localPortNumber":["${port}"]}'`;
        return {
            ssh:
                `ssh -p ${WORKBENCH_PORTS.ssh} -o ProxyCommand="aws ssm start-session --region ${a.region} --target %h ` +
                `--document-name AWS-StartSSHSession --parameters portNumber=%p" ${RESEARCHER_USER}@${a.instanceId}`,
            jupyterTunnel: forward(WORKBENCH_PORTS.jupyter),
            tensorboardTunnel: forward(WORKBENCH_PORTS.tensorboard),
            jupyterUrl: `http://localhost:${WORKBENCH_PORTS.jupyter}/lab`,
            tensorboardUrl: `http://localhost:${WORKBENCH_PORTS.tensorboard}/`,
            start,
            stop,
        };
    }
    const host = a.publicIp || "<public-ip>";
    return {
        ssh: `ssh -p ${WORKBENCH_PORTS.ssh} ${RESEARCHER_USER}@${host}`,
        jupyterTunnel: "not needed in cidr mode",
        tensorboardTunnel: "not needed in cidr mode",
        jupyterUrl: `http://${host}:${WORKBENCH_PORTS.jupyter}/lab`,
        tensorboardUrl: `http://${host}:${WORKBENCH_PORTS.tensorboard}/`,
        start,
        stop,
    };
}
