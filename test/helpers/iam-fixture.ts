/** Every IAM/KMS document the stack writes, built from realistic ARNs of one stack with two researchers (alice, bob). */
import {
    assumeRolePolicy, auditBucketPolicy, budgetEnforcerPolicy, budgetTopicPolicy, datasetAccessStatements, denyInsecureTransportPolicy, keyPolicy, PolicyDocument, researcherClusterPolicy,
    researcherInstancePolicy, researcherPodPolicy, researcherTrustPolicy, workstationPolicy,
} from "../../infra/iam";
import { interruptionQueuePolicy, karpenterControllerPolicy, keyUsePolicy, podIdentityTrust } from "../../infra/cluster/iam";
import { snapshotKeyPolicy } from "../../infra/instance/snapshots";
import { physicalName, researcherSsmPath, ssmPath } from "../../infra/tags";

export const PARTITION = "aws";
export const REGION = "eu-west-2";
export const ACCOUNT = "123456789012";
export const STACK = { institution: "uni-archaeology", stack: "prod" };

const arn = (service: string, resource: string, region = REGION, account = ACCOUNT) => `arn:${PARTITION}:${service}:${region}:${account}:${resource}`;

export const bucketArn = `arn:${PARTITION}:s3:::${physicalName(STACK, ["datasets"], 63)}`;
export const auditBucketArn = `arn:${PARTITION}:s3:::${physicalName(STACK, ["audit"], 63)}`;
export const keyArn = arn("kms", "key/0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b");
export const copyKeyArn = arn("kms", "key/9a8b7c6d-5e4f-3a2b-1c0d-ef0123456789", "eu-central-1");
export const repositoryArn = arn("ecr", `repository/${physicalName(STACK, [], 256)}`);
export const clusterName = physicalName(STACK, [], 100);
export const clusterArn = arn("eks", `cluster/${clusterName}`);
export const queueArn = arn("sqs", `${physicalName(STACK, ["karpenter"], 80)}`);
export const nodeRoleArn = `arn:${PARTITION}:iam::${ACCOUNT}:role/${physicalName(STACK, ["karpenter-node"], 64)}`;
export const trailName = physicalName(STACK, ["datasets-audit"], 128);
export const stackSsmPath = ssmPath(STACK);

/** An Identity Center permission-set role several people share (alice is told apart by her session), and an IAM user. */
export const SSO_ROLE_NAME = "AWSReservedSSO_Researcher_0123456789abcdef";
export const SSO_ROLE_ARN = `arn:${PARTITION}:iam::${ACCOUNT}:role/aws-reserved/sso.amazonaws.com/${REGION}/${SSO_ROLE_NAME}`;

export interface ResearcherFixture {
    id: string;
    instanceArn: string;
    iamPrincipalArn: string;
    sessionName?: string;
    /** Their researcher role and that role's session as the AWS CLI profile opens it (role_session_name = id). */
    roleArn: string;
    sessionArn: string;
    /** aws:userid of that session: "<role unique id>:<session name>" (IAM policy variables reference, principal table). */
    userId: string;
    /** Their workstation's instance role, its session (the instance id is the session name), and their pods' role session. */
    workstationSessionArn: string;
    podsSessionArn: string;
    ssmPath: string;
    tokenArn: string;
    statusArn: string;
}

function researcher(id: string, instanceId: string, principal: { iamPrincipalArn: string; sessionName?: string }, roleUniqueId: string): ResearcherFixture {
    const roleName = physicalName(STACK, ["researcher", id], 64);
    const path = researcherSsmPath(STACK, id);
    return {
        id,
        instanceArn: arn("ec2", `instance/${instanceId}`),
        ...principal,
        roleArn: `arn:${PARTITION}:iam::${ACCOUNT}:role/${roleName}`,
        sessionArn: `arn:${PARTITION}:sts::${ACCOUNT}:assumed-role/${roleName}/${id}`,
        userId: `${roleUniqueId}:${id}`,
        workstationSessionArn: `arn:${PARTITION}:sts::${ACCOUNT}:assumed-role/${physicalName(STACK, ["ws", id], 64)}/${instanceId}`,
        podsSessionArn: `arn:${PARTITION}:sts::${ACCOUNT}:assumed-role/${physicalName(STACK, ["pods", id], 64)}/eks-${clusterName.slice(0, 20)}-${id}-server`,
        ssmPath: path,
        tokenArn: arn("ssm", `parameter${path}/jupyter-token`),
        statusArn: arn("ssm", `parameter${path}/status/smoke`),
    };
}

export const alice = researcher("alice", "i-0a11ce00000000001", { iamPrincipalArn: SSO_ROLE_ARN, sessionName: "alice@uni.example" }, "AROAEXAMPLEALICE00001");
export const bob = researcher("bob", "i-0b0b0000000000002", { iamPrincipalArn: `arn:${PARTITION}:iam::${ACCOUNT}:user/bob` }, "AROAEXAMPLEBOB000002");
export const RESEARCHERS = [alice, bob] as const;

const data = (r: ResearcherFixture) => ({ bucketArn, keyArn, region: REGION, researcherId: r.id });
const common = { partition: PARTITION, accountId: ACCOUNT };

export const docs = {
    trust: (r: ResearcherFixture) => researcherTrustPolicy({ principalArn: r.iamPrincipalArn, id: r.id, sessionName: r.sessionName }),
    workstation: (r: ResearcherFixture) => workstationPolicy({ ...common, ...data(r), repositoryArn, researcherSsmPath: r.ssmPath }),
    instance: (r: ResearcherFixture) => researcherInstancePolicy({ ...common, ...data(r), instanceArn: r.instanceArn, researcherSsmPath: r.ssmPath }),
    cluster: (r: ResearcherFixture) => researcherClusterPolicy({ ...data(r), clusterArn }),
    pods: (r: ResearcherFixture) => researcherPodPolicy(data(r)),
    key: (cluster: boolean) => keyPolicy({ ...common, region: REGION, trailName, ...(cluster ? { logsPrefix: `/aws/eks/${clusterName}/`, eventBridge: true, autoScaling: true } : {}) }),
    datasetBucket: () => denyInsecureTransportPolicy(bucketArn),
};

/** How IAM evaluates a document: an identity policy, a resource policy (bucket, queue), a key policy, or a role trust policy. */
export type DocumentKind = "identity" | "resource" | "key" | "trust";

export interface NamedDocument {
    name: string;
    kind: DocumentKind;
    doc: PolicyDocument;
}

/** Every document of infra/iam.ts, infra/cluster/iam.ts and infra/instance/snapshots.ts, for each researcher where it is per researcher. */
export function allDocuments(): NamedDocument[] {
    const perResearcher = RESEARCHERS.flatMap((r): NamedDocument[] => [
        { name: `researcherTrustPolicy(${r.id})`, kind: "trust", doc: docs.trust(r) },
        { name: `datasetAccessStatements(${r.id})`, kind: "identity", doc: { Version: "2012-10-17", Statement: datasetAccessStatements(data(r)) } },
        { name: `workstationPolicy(${r.id})`, kind: "identity", doc: docs.workstation(r) },
        { name: `researcherInstancePolicy(${r.id})`, kind: "identity", doc: docs.instance(r) },
        { name: `researcherClusterPolicy(${r.id})`, kind: "identity", doc: docs.cluster(r) },
        { name: `researcherPodPolicy(${r.id})`, kind: "identity", doc: docs.pods(r) },
    ]);
    return [
        ...perResearcher,
        { name: "keyPolicy(instance)", kind: "key", doc: docs.key(false) },
        { name: "keyPolicy(cluster)", kind: "key", doc: docs.key(true) },
        { name: "keyPolicy(cluster, budget topics)", kind: "key", doc: keyPolicy({ ...common, region: REGION, trailName, logsPrefix: `/aws/eks/${clusterName}/`, budgetTopics: true }) },
        { name: "budgetTopicPolicy", kind: "resource", doc: budgetTopicPolicy({ ...common, topicArn: arn("sns", `${clusterName}-budget-stop-alice`) }) },
        {
            name: "budgetEnforcerPolicy", kind: "identity",
            doc: budgetEnforcerPolicy({ ...common, region: REGION, logGroupArn: arn("logs", `log-group:/aws/eks/${clusterName}/budget-enforcer`), vpcId: "vpc-0a1b2c3d4e5f60718" }),
        },
        { name: "denyInsecureTransportPolicy", kind: "resource", doc: docs.datasetBucket() },
        { name: "auditBucketPolicy", kind: "resource", doc: auditBucketPolicy({ ...common, bucketArn: auditBucketArn, region: REGION, trailName }) },
        ...["ec2.amazonaws.com", "dlm.amazonaws.com", "backup.amazonaws.com"].map((s): NamedDocument => ({ name: `assumeRolePolicy(${s})`, kind: "trust", doc: assumeRolePolicy(s) })),
        { name: "assumeRolePolicy(eks.amazonaws.com)", kind: "trust", doc: assumeRolePolicy("eks.amazonaws.com", ["sts:AssumeRole", "sts:TagSession"]) },
        { name: "podIdentityTrust", kind: "trust", doc: podIdentityTrust() },
        { name: "keyUsePolicy", kind: "identity", doc: keyUsePolicy(keyArn, "SecretsEnvelopeEncryption") },
        { name: "keyUsePolicy(via ec2)", kind: "identity", doc: keyUsePolicy(keyArn, "EncryptedVolumes", `ec2.${REGION}.amazonaws.com`) },
        { name: "karpenterControllerPolicy", kind: "identity", doc: karpenterControllerPolicy({ ...common, region: REGION, clusterName, clusterArn, nodeRoleArn, queueArn, keyArn }) },
        { name: "interruptionQueuePolicy", kind: "resource", doc: interruptionQueuePolicy(queueArn, ACCOUNT) },
        { name: "snapshotKeyPolicy", kind: "identity", doc: snapshotKeyPolicy({ keyArn, region: REGION }) },
        { name: "snapshotKeyPolicy(copy)", kind: "identity", doc: snapshotKeyPolicy({ keyArn, region: REGION, copy: { region: "eu-central-1", kmsKeyArn: copyKeyArn } }) },
    ];
}
