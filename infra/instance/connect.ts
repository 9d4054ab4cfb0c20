/** The exact commands a researcher runs in instance mode, with their own AWS profile. Pure. */
import type { AccessMode } from "../config";
import { PORTS, RESEARCHER_USER } from "../constants";
import { awsProfileName, researcherPrefix } from "../tags";

export interface ResearcherConnect {
    /** Add to ~/.aws/config once (see awsProfileSnippet); every command below uses it. */
    profile: string;
    start: string;
    stop: string;
    status: string;
    ssh: string;
    /** Forward Jupyter to http://localhost:8888 (TensorBoard is inside it, behind the token). */
    jupyterTunnel: string;
    jupyterUrl: string;
    tensorboardUrl: string;
    /** Prints the Jupyter token. */
    token: string;
    /** The last boot's GPU smoke test. */
    smoke: string;
    /** Upload images to the researcher's own area (/mydata in the workbench). */
    upload: string;
    /** Batch training over SSH that outlives the session (DDP over every GPU of the instance). */
    train: string;
}

export interface ConnectArgs {
    id: string;
    instanceId: string;
    region: string;
    accessMode: AccessMode;
    /** The researcher's SSM path (token, status). */
    ssmPath: string;
    bucketName: string;
    /** GPUs of the researcher's instance type. */
    gpus: number;
}

/** archaeo-train on one GPU, or under torchrun (DDP) over every GPU of the instance. Pure. */
export function trainCommand(gpus: number, args = "--data-dir /mydata/my-images --model resnet50 --epochs 30 --amp --resume --output-dir /workspace/models/my-run"): string {
    return gpus > 1 ? `torchrun --standalone --nproc-per-node ${gpus} -m archaeo.train ${args}` : `archaeo-train ${args}`;
}

export function connectInfo(a: ConnectArgs): ResearcherConnect {
    const profile = awsProfileName(a.id);
    const aws = `aws --profile ${profile} --region ${a.region}`;
    const ip = `$(${aws} ec2 describe-instances --instance-ids ${a.instanceId} --query 'Reservations[0].Instances[0].PublicIpAddress' --output text)`;
    const forward = `${aws} ssm start-session --target ${a.instanceId} --document-name AWS-StartPortForwardingSession --parameters '{"portNumber":["${PORTS.jupyter}"],"localPortNumber":["${PORTS.jupyter}"]}'`;
    const ssm = a.accessMode === "ssm";
    const ssh = ssm
        ? `ssh -p ${PORTS.ssh} -o ProxyCommand="${aws} ssm start-session --target %h --document-name AWS-StartSSHSession --parameters portNumber=%p" ${RESEARCHER_USER}@${a.instanceId}`
        : `ssh -p ${PORTS.ssh} ${RESEARCHER_USER}@${ip}`;
    return {
        profile,
        start: `${aws} ec2 start-instances --instance-ids ${a.instanceId}`,
        stop: `${aws} ec2 stop-instances --instance-ids ${a.instanceId}`,
        status: `${aws} ec2 describe-instance-status --include-all-instances --instance-ids ${a.instanceId} --query 'InstanceStatuses[0].InstanceState.Name' --output text`,
        ssh,
        jupyterTunnel: ssm ? forward : `ssh -N -p ${PORTS.ssh} -L ${PORTS.jupyter}:127.0.0.1:${PORTS.jupyter} ${RESEARCHER_USER}@${ip}`,
        jupyterUrl: `http://localhost:${PORTS.jupyter}/lab`,
        tensorboardUrl: `http://localhost:${PORTS.jupyter}/tensorboard/`,
        token: `${aws} ssm get-parameter --with-decryption --name ${a.ssmPath}/jupyter-token --query Parameter.Value --output text`,
        smoke: `${aws} ssm get-parameter --name ${a.ssmPath}/status/smoke --query Parameter.Value --output text`,
        upload: `${aws} s3 sync ./my-images s3://${a.bucketName}/${researcherPrefix(a.id)}my-images/`,
        train: `${ssh} 'nohup ${trainCommand(a.gpus)} > /workspace/train.log 2>&1 &'`,
    };
}
