/**
 * IAM and KMS policy documents as pure functions of ARNs: every statement names this stack's own
 * resources. The one exception, ecr:GetAuthorizationToken, is account-level in IAM and only accepts
 * Resource "*" (it returns a token, not image data; pulls are then scoped to the repository).
 */
export interface PolicyStatement {
    Sid: string;
    Effect: "Allow" | "Deny";
    Principal?: Record<string, string | string[]> | "*";
    Action: string | string[];
    /** Absent only in trust policies. */
    Resource?: string | string[];
    Condition?: Record<string, Record<string, string | string[]>>;
}
export interface PolicyDocument {
    Version: "2012-10-17";
    Statement: PolicyStatement[];
}

/** Trust policy letting an AWS service assume the role (EKS also wants sts:TagSession). */
export function assumeRolePolicy(service: string, actions: string | string[] = "sts:AssumeRole"): PolicyDocument {
    return {
        Version: "2012-10-17",
        Statement: [{ Sid: "TrustService", Effect: "Allow", Principal: { Service: service }, Action: actions }],
    };
}

/** Read/write on the dataset bucket and use of the stack key: the workstation's and the workbench pods' data access. */
export function datasetAccessStatements(a: { bucketArn: string; keyArn: string }): PolicyStatement[] {
    return [
        { Sid: "DatasetBucketList", Effect: "Allow", Action: ["s3:GetBucketLocation", "s3:ListBucket"], Resource: a.bucketArn },
        {
            Sid: "DatasetObjectsReadWrite",
            Effect: "Allow",
            Action: ["s3:AbortMultipartUpload", "s3:DeleteObject", "s3:GetObject", "s3:ListMultipartUploadParts", "s3:PutObject"],
            Resource: `${a.bucketArn}/*`,
        },
        { Sid: "UseStackKey", Effect: "Allow", Action: ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey"], Resource: a.keyArn },
    ];
}

export interface WorkstationPolicyArgs {
    partition: string;
    region: string;
    accountId: string;
    bucketArn: string;
    repositoryArn: string;
    keyArn: string;
    /** SSM path of the stack, e.g. /archaeo/<institution>/<stack>. */
    ssmPath: string;
}

/** Inline policy of the workstation role: pull this image, use this bucket and key, read its own parameters. */
export function workstationPolicy(a: WorkstationPolicyArgs): PolicyDocument {
    const params = `arn:${a.partition}:ssm:${a.region}:${a.accountId}:parameter${a.ssmPath}`;
    return {
        Version: "2012-10-17",
        Statement: [
            { Sid: "EcrAuthToken", Effect: "Allow", Action: "ecr:GetAuthorizationToken", Resource: "*" },
            {
                Sid: "EcrPullThisRepository",
                Effect: "Allow",
                Action: ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
                Resource: a.repositoryArn,
            },
            ...datasetAccessStatements(a),
            { Sid: "ReadOwnParameters", Effect: "Allow", Action: ["ssm:GetParameter", "ssm:GetParameters"], Resource: `${params}/*` },
            { Sid: "ReportOwnStatus", Effect: "Allow", Action: "ssm:PutParameter", Resource: `${params}/status/*` },
        ],
    };
}

export interface KeyPolicyArgs {
    partition: string;
    accountId: string;
    userRoleArns: string[];
    /** Cluster mode: let CloudWatch Logs in `region` encrypt log groups under `prefix` (e.g. /aws/eks/<cluster>/). */
    logs?: { region: string; prefix: string };
    /** Cluster mode: let EventBridge write to the KMS-encrypted interruption queue. */
    eventBridge?: boolean;
    /** Cluster mode: let the EC2 Auto Scaling service-linked role launch node-group instances with encrypted roots. */
    autoScaling?: boolean;
}

/**
 * Key policy: the account administers the key through IAM; the workbench role may use it; in cluster
 * mode CloudWatch Logs, EventBridge and the Auto Scaling service-linked role may too.
 */
export function keyPolicy(a: KeyPolicyArgs): PolicyDocument {
    const statements: PolicyStatement[] = [
        {
            Sid: "AccountAdministersKey",
            Effect: "Allow",
            Principal: { AWS: `arn:${a.partition}:iam::${a.accountId}:root` },
            Action: "kms:*",
            Resource: "*",
        },
    ];
    if (a.logs) {
        const { region, prefix } = a.logs;
        statements.push({
            Sid: "CloudWatchLogsUseKey",
            Effect: "Allow",
            Principal: { Service: `logs.${region}.amazonaws.com` },
            Action: ["kms:Decrypt*", "kms:Describe*", "kms:Encrypt*", "kms:GenerateDataKey*", "kms:ReEncrypt*"],
            Resource: "*",
            Condition: { ArnLike: { "kms:EncryptionContext:aws:logs:arn": `arn:${a.partition}:logs:${region}:${a.accountId}:log-group:${prefix}*` } },
        });
    }
    if (a.eventBridge) {
        statements.push({ Sid: "EventBridgeUsesKeyForQueue", Effect: "Allow", Principal: { Service: "events.amazonaws.com" }, Action: ["kms:Decrypt", "kms:GenerateDataKey"], Resource: "*" });
    }
    if (a.autoScaling) {
        const slr = `arn:${a.partition}:iam::${a.accountId}:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling`;
        statements.push(
            { Sid: "AutoScalingUsesKey", Effect: "Allow", Principal: { AWS: slr }, Action: ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey*", "kms:ReEncrypt*"], Resource: "*" },
            { Sid: "AutoScalingGrants", Effect: "Allow", Principal: { AWS: slr }, Action: "kms:CreateGrant", Resource: "*", Condition: { Bool: { "kms:GrantIsForAWSResource": "true" } } },
        );
    }
    if (a.userRoleArns.length) {
        statements.push({
            Sid: "WorkbenchRolesUseKey",
            Effect: "Allow",
            Principal: { AWS: a.userRoleArns.length === 1 ? a.userRoleArns[0] : a.userRoleArns },
            Action: ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey", "kms:GenerateDataKeyWithoutPlaintext", "kms:ReEncrypt*"],
            Resource: "*",
        });
    }
    return { Version: "2012-10-17", Statement: statements };
}

/** Bucket policy: refuse any request not made over TLS. */
export function denyInsecureTransportPolicy(bucketArn: string): PolicyDocument {
    return {
        Version: "2012-10-17",
        Statement: [
            {
                Sid: "DenyInsecureTransport",
                Effect: "Deny",
                Principal: "*",
                Action: "s3:*",
                Resource: [bucketArn, `${bucketArn}/*`],
                Condition: { Bool: { "aws:SecureTransport": "false" } },
            },
        ],
    };
}
