/**
 * What the researcher CLI (cli/, `archaeo`) needs to know about one researcher, and the one-line setup
 * code that carries it (`archaeo setup <code>`, the `cliSetup` stack output). Pure.
 *
 * The facts are the same ones connectInfo / clusterConnect turn into commands (profile, region, instance,
 * SSM path, ports, user, Kubernetes names), taken from the same constants, so the CLI and the printed
 * commands cannot drift apart (test/cli.test.ts runs the CLI and compares the AWS CLI calls it makes
 * with connectInfo's). Nothing secret: the Jupyter token stays in SSM and the CLI reads it with the
 * researcher's own role when it opens the notebook.
 */
import { PORTS, RESEARCHER_USER } from "./constants";
import { awsProfileName, researcherPrefix } from "./tags";

/** Bumped when a field changes meaning; the CLI refuses versions it does not know, naming the upgrade. */
export const CLI_FACTS_VERSION = 1;
/** The setup code is this prefix and the facts as base64url JSON: one token, safe to paste into any shell. */
export const SETUP_CODE_PREFIX = "archaeo1.";
/** Where `archaeo logs` looks by default: where connect.train sends a background run's output. */
export const TRAIN_LOG = "/workspace/train.log";

interface CommonFacts {
    v: typeof CLI_FACTS_VERSION;
    id: string;
    region: string;
    /** The AWS CLI profile `archaeo setup` writes (awsProfileSnippet's), assuming roleArn. */
    profile: string;
    roleArn: string;
    /** The dataset bucket and the researcher's own area in it (s3://<bucket>/<dataPrefix>, /mydata on the workbench). */
    bucket: string;
    dataPrefix: string;
}

export interface InstanceCliFacts extends CommonFacts {
    mode: "instance";
    instanceId: string;
    /** The researcher's SSM path: token at <ssmPath>/jupyter-token, boot status under <ssmPath>/status/. */
    ssmPath: string;
    user: string;
    ports: { ssh: number; jupyter: number };
    trainLog: string;
}

export interface ClusterCliFacts extends CommonFacts {
    mode: "cluster";
    clusterName: string;
    hubUrl: string;
    hubNamespace: string;
    /** The pod researchers port-forward to for the hub (absent when the hub has a public address). */
    hubTunnel?: { pod: string; port: number; localPort: number };
    serverPod: string;
}

export type CliFacts = InstanceCliFacts | ClusterCliFacts;

export function instanceCliFacts(a: { id: string; region: string; roleArn: string; bucket: string; instanceId: string; ssmPath: string }): InstanceCliFacts {
    return {
        v: CLI_FACTS_VERSION, mode: "instance", id: a.id, region: a.region, profile: awsProfileName(a.id), roleArn: a.roleArn, bucket: a.bucket, dataPrefix: researcherPrefix(a.id),
        instanceId: a.instanceId, ssmPath: a.ssmPath, user: RESEARCHER_USER, ports: { ssh: PORTS.ssh, jupyter: PORTS.jupyter }, trainLog: TRAIN_LOG,
    };
}

export function clusterCliFacts(a: {
    id: string; region: string; roleArn: string; bucket: string; clusterName: string; hubUrl: string; hubNamespace: string; serverPod: string;
    hubTunnel?: { pod: string; port: number };
}): ClusterCliFacts {
    return {
        v: CLI_FACTS_VERSION, mode: "cluster", id: a.id, region: a.region, profile: awsProfileName(a.id), roleArn: a.roleArn, bucket: a.bucket, dataPrefix: researcherPrefix(a.id),
        clusterName: a.clusterName, hubUrl: a.hubUrl, hubNamespace: a.hubNamespace, serverPod: a.serverPod,
        ...(a.hubTunnel ? { hubTunnel: { ...a.hubTunnel, localPort: PORTS.hub } } : {}),
    };
}

/** `archaeo1.<base64url JSON>`. */
export function setupCode(facts: CliFacts): string {
    return SETUP_CODE_PREFIX + Buffer.from(JSON.stringify(facts), "utf8").toString("base64url");
}

/** The line a researcher runs once after installing the CLI. */
export function setupCommand(facts: CliFacts): string {
    return `archaeo setup ${setupCode(facts)}`;
}
