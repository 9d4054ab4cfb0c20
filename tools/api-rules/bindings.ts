/**
 * Which AWS API member each value the program sends lands in, per Pulumi resource type.
 *
 * The constraints themselves are not written here: `model` members are read from AWS's published
 * service models (botocore's, the ones the AWS CLI and boto3 validate with) into the generated table
 * `aws-api-rules.json` (`npm run gen:api-rules`). Where AWS's model states a rule only in the member's
 * documentation (EC2, S3, SQS, CloudTrail, Backup names), the rule is written here with the exact quote
 * it comes from (`doc`), and the table test checks that the quote is still in the model's text. Where
 * the Pulumi provider adds its own validation (it wraps the Terraform AWS provider) or names things
 * itself (autonaming), `provider` cites the file.
 *
 * Path syntax, for Pulumi inputs and API members alike: dotted names; `[]` steps into every list element,
 * `{}` into every map value, `{key}` into every map key (`tags{key}`). A Pulumi input that is a list or a
 * map where the API has one value (DLM `times`, a string in Pulumi and a list in the API) is walked the
 * same way: a scalar met by `[]` counts as a list of one.
 *
 * Every top-level input of every type the program registers is either bound here or listed in
 * `unchecked` with the reason; a type with no entry is a finding (test/api-rules.test.ts).
 */

import { DNS1123_LABEL, DNS1123_SUBDOMAIN, LABEL_VALUE } from "./kubernetes";

/** A rule a model states in prose, or a provider enforces in code. Patterns are whole-value (AWS validates with Java's `matches`). */
export interface Constraint {
    readonly min?: number;
    readonly max?: number;
    readonly pattern?: string;
    readonly enum?: readonly (string | number)[];
    /** Refused prefixes ("sg-", "aws:", "alias/aws/"). */
    readonly notPrefix?: readonly string[];
    readonly notSuffix?: readonly string[];
    /** Not in IPv4 address form (S3 bucket and CloudTrail names). */
    readonly notIpAddress?: true;
    /** No two adjacent periods (S3 bucket names). */
    readonly noAdjacentPeriods?: true;
    /** Refused anywhere in the value, case-insensitively (Cognito domain prefixes: aws, amazon, cognito). */
    readonly notContaining?: readonly string[];
}

export type RuleSource =
    /** A member of AWS's service model: `<service>:<Operation>:<member path>`, constraints from the generated table. */
    | { readonly model: string }
    /** A rule AWS's model states in the documentation of `doc`; `quote` must appear in it verbatim. */
    | { readonly doc: string; readonly quote: string; readonly rule: Constraint }
    /** A rule the Pulumi AWS provider (or the Terraform provider it wraps) enforces: `provider` names the file and function. */
    | { readonly provider: string; readonly rule: Constraint }
    /** A rule AWS (or Kubernetes) documents on a page no model carries: `page` is its address, `quote` its words. */
    | { readonly page: string; readonly quote: string; readonly rule: Constraint }
    /** A region ("region") or an availability zone of one ("zone"), from botocore's partitions.json (in the generated table). */
    | { readonly partitions: "region" | "zone"; readonly rule: Constraint };

export interface Binding {
    /** Pulumi input path. */
    readonly prop: string;
    readonly rules: readonly RuleSource[];
}

export interface Autoname {
    /** The input Pulumi fills when the program leaves it out: `<logical name>-<7 hex>`. */
    readonly prop: string;
    /** The provider's limit for the generated name (it refuses the resource when name + suffix is longer). */
    readonly maxLength: number;
    readonly source: string;
}

export interface TypeRules {
    readonly bindings: readonly Binding[];
    readonly autoname?: Autoname;
    /** Top-level inputs with no name, description, identifier or enumerated value of ours, and why. */
    readonly unchecked?: Readonly<Record<string, string>>;
}

// ---- reasons an input is not checked here --------------------------------------------------------------
const REF = "an id or ARN another resource or AWS returns (AWS issued it)";
const DOC = "a JSON document: judged by the policy pack and the IAM simulator tests";
const FLAG = "a boolean or number with no API constraint beyond its type";
const SECRET = "a secret value (random.RandomPassword or user data), never a name";
const USERDATA = "user data: size-checked by infra/instance/userdata.ts against EC2's 16 KiB limit; schema-checked by cloud-init";

// ---- shared rules ---------------------------------------------------------------------------------------
const PULUMI_AWS = "pulumi-aws provider/resources.go (tfbridge.AutoName / SetAutonaming(255, \"-\"))";
/** AWS's tag rules for services whose model carries none (EC2, S3, SQS, ...): the Resource Groups Tagging API, and EC2's documented 127 and `aws:`. */
const TAG_KEY: RuleSource[] = [
    { model: "resourcegroupstaggingapi:TagResources:Tags{key}" },
    { doc: "ec2:CreateTags:Tags[].Key", quote: "Tag keys are case-sensitive and accept a maximum of 127 Unicode characters. May not begin with aws:", rule: { max: 127, notPrefix: ["aws:"] } },
];
const TAG_VALUE: RuleSource[] = [{ model: "resourcegroupstaggingapi:TagResources:Tags{}" }];
const tags = (prop = "tags"): Binding[] => [{ prop: `${prop}{key}`, rules: TAG_KEY }, { prop: `${prop}{}`, rules: TAG_VALUE }];
/** `tags` of a service whose model carries its own tag rules: the key and value members. */
const modelTags = (key: string, value: string): Binding[] => [{ prop: "tags{key}", rules: [{ model: key }] }, { prop: "tags{}", rules: [{ model: value }] }];
/** The strictest tag rules of a service the default tags reach (IAM, EFS, CloudWatch Logs, DLM): every resource gets them. */
const DEFAULT_TAG_KEY: RuleSource[] = [...TAG_KEY, { model: "iam:CreateRole:Tags[].Key" }, { model: "efs:CreateFileSystem:Tags[].Key" }, { model: "logs:CreateLogGroup:tags{key}" }, { model: "dlm:CreateLifecyclePolicy:Tags{key}" }];
const DEFAULT_TAG_VALUE: RuleSource[] = [...TAG_VALUE, { model: "iam:CreateRole:Tags[].Value" }, { model: "efs:CreateFileSystem:Tags[].Value" }, { model: "logs:CreateLogGroup:tags{}" }, { model: "dlm:CreateLifecyclePolicy:Tags{}" }];

/** EC2's character set for security group names, descriptions and rule descriptions (VPC). */
const EC2_SG_CHARS = "[a-zA-Z0-9. _\\-:/()#,@\\[\\]+=&;{}!$*]*";
const SG_RULE_DESCRIPTION: RuleSource = {
    doc: "ec2:AuthorizeSecurityGroupIngress:IpPermissions[].IpRanges[].Description",
    quote: "Constraints: Up to 255 characters in length. Allowed characters are a-z, A-Z, 0-9, spaces, and ._-:/()#,@[]+=&;{}!$*",
    rule: { max: 255, pattern: EC2_SG_CHARS },
};
const IP_PROTOCOL: RuleSource = {
    provider: "terraform-provider-aws internal/service/vpc/security_group_ingress_rule.go (ip_protocol: tcp, udp, icmp, icmpv6, -1 or a protocol number)",
    rule: { pattern: "tcp|udp|icmp|icmpv6|-1|[0-9]{1,3}" },
};
const PORT: RuleSource = { model: "ec2:AuthorizeSecurityGroupIngress:IpPermissions[].FromPort" };

const S3_BUCKET: RuleSource[] = [
    { doc: "s3:CreateBucket:Bucket", quote: "see Bucket naming rules in the Amazon S3 User Guide", rule: { min: 3, max: 63 } },
    {
        page: "https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html",
        // The page lists each rule as its own line; these are four of them, verbatim (read 2026-12-06).
        quote: "Bucket names must begin and end with a letter or number. / Bucket names must not contain two adjacent periods. / Bucket names must not be formatted as an IP address (for example, 192.168.5.4). / Bucket names must not start with the prefix amzn-s3-demo-.",
        rule: { min: 3, max: 63, pattern: "[a-z0-9][a-z0-9.-]*[a-z0-9]", notIpAddress: true, noAdjacentPeriods: true, notPrefix: ["xn--", "sthree-", "amzn-s3-demo-"], notSuffix: ["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"] },
    },
];
const bucketRef = (): Binding => ({ prop: "bucket", rules: S3_BUCKET });

/**
 * Availability zone names: a region botocore's partitions.json lists, then a letter (us-east-1a) or a Local
 * Zone's suffix (us-east-1-bos-1a), as EC2 DescribeAvailabilityZones names them.
 */
const AZ_NAME: RuleSource = { partitions: "zone", rule: {} };
/** Namespaces and service accounts named in EKS APIs: Kubernetes' own rules for them (kubernetes.ts). */
const K8S_NAMESPACE: RuleSource = { provider: "k8s.io/apimachinery pkg/util/validation/validation.go IsDNS1123Label (Namespace names: NameIsDNSLabel)", rule: DNS1123_LABEL };
const K8S_SERVICE_ACCOUNT: RuleSource = { provider: "k8s.io/apimachinery pkg/util/validation/validation.go IsDNS1123Subdomain (ServiceAccount names)", rule: DNS1123_SUBDOMAIN };
const ROLE_NAME: RuleSource = { model: "iam:CreateRole:RoleName" };
const KMS_KEY_ID_SSM: RuleSource = { model: "ssm:PutParameter:KeyId" };
const EKS_CLUSTER: RuleSource = { model: "eks:CreateCluster:name" };

export const TYPE_RULES: Readonly<Record<string, TypeRules>> = {
    "pulumi:providers:aws": {
        bindings: [
            { prop: "defaultTags.tags{key}", rules: DEFAULT_TAG_KEY },
            { prop: "defaultTags.tags{}", rules: DEFAULT_TAG_VALUE },
            // Every region of every partition in botocore's partitions.json (the SDKs' endpoint data).
            { prop: "region", rules: [{ partitions: "region", rule: {} }] },
        ],
        unchecked: { skipCredentialsValidation: FLAG, skipRegionValidation: FLAG },
    },
    "pulumi:providers:kubernetes": { bindings: [], unchecked: { kubeconfig: "the cluster's kubeconfig (endpoint and CA from EKS)", enableServerSideApply: FLAG } },
    "random:index/randomPassword:RandomPassword": { bindings: [], unchecked: { length: FLAG, special: FLAG } },
    "docker:index/image:Image": {
        bindings: [{ prop: "imageName", rules: [{ provider: "distribution/reference regexp.go (the Docker reference grammar: repository path and tag)", rule: { max: 255 + 1 + 128, pattern: "[a-z0-9.-]+(:[0-9]+)?/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}" } }] }],
        unchecked: { build: "the build context and args (hashed into the tag by infra/foundation/registry.ts)", buildOnPreview: FLAG, registry: "the registry login (ECR's authorization token)", skipPush: FLAG },
    },

    // ---- foundation --------------------------------------------------------------------------------------
    "aws:kms/key:Key": {
        bindings: [
            { prop: "description", rules: [{ model: "kms:CreateKey:Description" }] },
            { prop: "keyUsage", rules: [{ model: "kms:CreateKey:KeyUsage" }] },
            { prop: "customerMasterKeySpec", rules: [{ model: "kms:CreateKey:CustomerMasterKeySpec" }] },
            { prop: "deletionWindowInDays", rules: [{ model: "kms:ScheduleKeyDeletion:PendingWindowInDays" }, { doc: "kms:ScheduleKeyDeletion:PendingWindowInDays", quote: "If you include a value, it must be between 7 and 30, inclusive.", rule: { min: 7, max: 30 } }] },
            ...tags(),
        ],
        unchecked: { policy: DOC, enableKeyRotation: FLAG },
    },
    "aws:kms/alias:Alias": {
        bindings: [{
            prop: "name", rules: [
                { model: "kms:CreateAlias:AliasName" },
                { doc: "kms:CreateAlias:AliasName", quote: "This value must begin with alias/ followed by a name", rule: { pattern: "alias/.+" } },
                { doc: "kms:CreateAlias:AliasName", quote: "The alias name cannot begin with alias/aws/ .", rule: { notPrefix: ["alias/aws/"] } },
            ],
        }],
        unchecked: { targetKeyId: REF },
    },
    "aws:s3/bucket:Bucket": { bindings: [{ prop: "bucket", rules: S3_BUCKET }, ...tags()], unchecked: { forceDestroy: FLAG } },
    "aws:s3/bucketVersioning:BucketVersioning": {
        bindings: [bucketRef(), { prop: "versioningConfiguration.status", rules: [{ model: "s3:PutBucketVersioning:VersioningConfiguration.Status" }] }, { prop: "versioningConfiguration.mfaDelete", rules: [{ model: "s3:PutBucketVersioning:VersioningConfiguration.MFADelete" }] }],
    },
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": {
        bindings: [bucketRef()],
        unchecked: { blockPublicAcls: FLAG, blockPublicPolicy: FLAG, ignorePublicAcls: FLAG, restrictPublicBuckets: FLAG },
    },
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls": {
        bindings: [bucketRef(), { prop: "rule.objectOwnership", rules: [{ model: "s3:PutBucketOwnershipControls:OwnershipControls.Rules[].ObjectOwnership" }] }],
    },
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": {
        bindings: [bucketRef(), { prop: "rules[].applyServerSideEncryptionByDefault.sseAlgorithm", rules: [{ model: "s3:PutBucketEncryption:ServerSideEncryptionConfiguration.Rules[].ApplyServerSideEncryptionByDefault.SSEAlgorithm" }] }],
        unchecked: { "rules[].applyServerSideEncryptionByDefault.kmsMasterKeyId": REF, "rules[].bucketKeyEnabled": FLAG },
    },
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": {
        bindings: [
            bucketRef(),
            { prop: "rules[].id", rules: [{ doc: "s3:PutBucketLifecycleConfiguration:LifecycleConfiguration.Rules[].ID", quote: "The value cannot be longer than 255 characters.", rule: { max: 255 } }] },
            { prop: "rules[].status", rules: [{ model: "s3:PutBucketLifecycleConfiguration:LifecycleConfiguration.Rules[].Status" }] },
            { prop: "rules[].expiration.days", rules: [{ model: "s3:PutBucketLifecycleConfiguration:LifecycleConfiguration.Rules[].Expiration.Days" }] },
            { prop: "rules[].noncurrentVersionExpiration.noncurrentDays", rules: [{ model: "s3:PutBucketLifecycleConfiguration:LifecycleConfiguration.Rules[].NoncurrentVersionExpiration.NoncurrentDays" }] },
        ],
        unchecked: { "rules[].filter": "an empty filter (the whole bucket)" },
    },
    "aws:s3/bucketPolicy:BucketPolicy": { bindings: [bucketRef()], unchecked: { policy: DOC } },
    "aws:cloudtrail/trail:Trail": {
        bindings: [
            {
                prop: "name", rules: [{
                    doc: "cloudtrail:CreateTrail:Name",
                    quote: "Contain only ASCII letters (a-z, A-Z), numbers (0-9), periods (.), underscores (_), or dashes (-) Start with a letter or number, and end with a letter or number Be between 3 and 128 characters Have no adjacent periods, underscores or dashes.",
                    rule: { min: 3, max: 128, pattern: "[A-Za-z0-9](?:[A-Za-z0-9]|[._-](?![._-]))*[A-Za-z0-9]" },
                }, {
                    doc: "cloudtrail:CreateTrail:Name",
                    quote: "Not be in IP address format (for example, 192.168.5.4)",
                    rule: { notIpAddress: true },
                }],
            },
            { prop: "s3BucketName", rules: S3_BUCKET },
            ...tags(),
        ],
        unchecked: { advancedEventSelectors: "CloudTrail event selectors: judged by the pack's audit rules", enableLogFileValidation: FLAG, enableLogging: FLAG, includeGlobalServiceEvents: FLAG, isMultiRegionTrail: FLAG, kmsKeyId: REF },
    },
    "aws:ecr/repository:Repository": {
        bindings: [
            { prop: "name", rules: [{ model: "ecr:CreateRepository:repositoryName" }] },
            { prop: "imageTagMutability", rules: [{ model: "ecr:CreateRepository:imageTagMutability" }] },
            { prop: "encryptionConfigurations[].encryptionType", rules: [{ model: "ecr:CreateRepository:encryptionConfiguration.encryptionType" }] },
            ...tags(),
        ],
        unchecked: { forceDelete: FLAG, imageScanningConfiguration: FLAG, "encryptionConfigurations[].kmsKey": REF },
    },
    "aws:ecr/lifecyclePolicy:LifecyclePolicy": {
        bindings: [{ prop: "repository", rules: [{ model: "ecr:PutLifecyclePolicy:repositoryName" }] }, { prop: "policy", rules: [{ model: "ecr:PutLifecyclePolicy:lifecyclePolicyText" }] }],
    },
    "aws:budgets/budget:Budget": {
        bindings: [
            { prop: "name", rules: [{ model: "budgets:CreateBudget:Budget.BudgetName" }] },
            { prop: "budgetType", rules: [{ model: "budgets:CreateBudget:Budget.BudgetType" }] },
            { prop: "timeUnit", rules: [{ model: "budgets:CreateBudget:Budget.TimeUnit" }] },
            { prop: "limitAmount", rules: [{ model: "budgets:CreateBudget:Budget.BudgetLimit.Amount" }] },
            { prop: "limitUnit", rules: [{ model: "budgets:CreateBudget:Budget.BudgetLimit.Unit" }] },
            { prop: "costFilters[].values[]", rules: [{ model: "budgets:CreateBudget:Budget.CostFilters{}[]" }] },
            { prop: "notifications", rules: [{ model: "budgets:CreateBudget:NotificationsWithSubscribers" }] },
            { prop: "notifications[].comparisonOperator", rules: [{ model: "budgets:CreateBudget:NotificationsWithSubscribers[].Notification.ComparisonOperator" }] },
            { prop: "notifications[].notificationType", rules: [{ model: "budgets:CreateBudget:NotificationsWithSubscribers[].Notification.NotificationType" }] },
            { prop: "notifications[].thresholdType", rules: [{ model: "budgets:CreateBudget:NotificationsWithSubscribers[].Notification.ThresholdType" }] },
            { prop: "notifications[].threshold", rules: [{ model: "budgets:CreateBudget:NotificationsWithSubscribers[].Notification.Threshold" }] },
            { prop: "notifications[].subscriberEmailAddresses", rules: [{ model: "budgets:CreateBudget:NotificationsWithSubscribers[].Subscribers" }] },
            { prop: "notifications[].subscriberEmailAddresses[]", rules: [{ model: "budgets:CreateBudget:NotificationsWithSubscribers[].Subscribers[].Address" }] },
            // Cluster mode: the budget enforcer's topic, sent as a Subscriber of type SNS (its Address is the topic ARN).
            { prop: "notifications[].subscriberSnsTopicArns[]", rules: [{ model: "budgets:CreateBudget:NotificationsWithSubscribers[].Subscribers[].Address" }] },
            { prop: "costFilters[].name", rules: [{ model: "budgets:CreateBudget:Budget.CostFilters{key}" }] },
            // A researcher's budget: the AND of two tag filters (infra/foundation/researcher-budget.ts).
            { prop: "filterExpression.ands[].tags.key", rules: [{ model: "budgets:CreateBudget:Budget.FilterExpression.And[].Tags.Key" }] },
            { prop: "filterExpression.ands[].tags.values", rules: [{ model: "budgets:CreateBudget:Budget.FilterExpression.And[].Tags.Values" }] },
            { prop: "filterExpression.ands[].tags.values[]", rules: [{ model: "budgets:CreateBudget:Budget.FilterExpression.And[].Tags.Values[]" }] },
            { prop: "filterExpression.ands[].tags.matchOptions[]", rules: [{ model: "budgets:CreateBudget:Budget.FilterExpression.And[].Tags.MatchOptions[]" }] },
            ...modelTags("budgets:CreateBudget:ResourceTags[].Key", "budgets:CreateBudget:ResourceTags[].Value"),
        ],
    },
    "aws:budgets/budgetAction:BudgetAction": {
        bindings: [
            { prop: "budgetName", rules: [{ model: "budgets:CreateBudgetAction:BudgetName" }] },
            { prop: "notificationType", rules: [{ model: "budgets:CreateBudgetAction:NotificationType" }] },
            { prop: "actionType", rules: [{ model: "budgets:CreateBudgetAction:ActionType" }] },
            { prop: "approvalModel", rules: [{ model: "budgets:CreateBudgetAction:ApprovalModel" }] },
            { prop: "actionThreshold.actionThresholdType", rules: [{ model: "budgets:CreateBudgetAction:ActionThreshold.ActionThresholdType" }] },
            { prop: "actionThreshold.actionThresholdValue", rules: [{ model: "budgets:CreateBudgetAction:ActionThreshold.ActionThresholdValue" }] },
            { prop: "definition.iamActionDefinition.policyArn", rules: [{ model: "budgets:CreateBudgetAction:Definition.IamActionDefinition.PolicyArn" }] },
            { prop: "definition.iamActionDefinition.roles", rules: [{ model: "budgets:CreateBudgetAction:Definition.IamActionDefinition.Roles" }] },
            { prop: "definition.iamActionDefinition.roles[]", rules: [{ model: "budgets:CreateBudgetAction:Definition.IamActionDefinition.Roles[]" }, ROLE_NAME] },
            { prop: "definition.ssmActionDefinition.actionSubType", rules: [{ model: "budgets:CreateBudgetAction:Definition.SsmActionDefinition.ActionSubType" }] },
            { prop: "definition.ssmActionDefinition.region", rules: [{ model: "budgets:CreateBudgetAction:Definition.SsmActionDefinition.Region" }] },
            { prop: "definition.ssmActionDefinition.instanceIds", rules: [{ model: "budgets:CreateBudgetAction:Definition.SsmActionDefinition.InstanceIds" }] },
            { prop: "definition.ssmActionDefinition.instanceIds[]", rules: [{ model: "budgets:CreateBudgetAction:Definition.SsmActionDefinition.InstanceIds[]" }] },
            { prop: "executionRoleArn", rules: [{ model: "budgets:CreateBudgetAction:ExecutionRoleArn" }] },
            { prop: "subscribers", rules: [{ model: "budgets:CreateBudgetAction:Subscribers" }] },
            { prop: "subscribers[].subscriptionType", rules: [{ model: "budgets:CreateBudgetAction:Subscribers[].SubscriptionType" }] },
            { prop: "subscribers[].address", rules: [{ model: "budgets:CreateBudgetAction:Subscribers[].Address" }] },
            ...modelTags("budgets:CreateBudgetAction:ResourceTags[].Key", "budgets:CreateBudgetAction:ResourceTags[].Value"),
        ],
    },
    "aws:sqs/queue:Queue": {
        bindings: [
            { prop: "name", rules: [{ doc: "sqs:CreateQueue:QueueName", quote: "A queue name can have up to 80 characters. Valid values: alphanumeric characters, hyphens ( - ), and underscores ( _ ).", rule: { min: 1, max: 80, pattern: "[A-Za-z0-9_-]+" } }] },
            { prop: "messageRetentionSeconds", rules: [{ doc: "sqs:CreateQueue:Attributes", quote: "An integer from 60 seconds (1 minute) to 1,209,600 seconds (14 days)", rule: { min: 60, max: 1209600 } }] },
            ...tags(),
        ],
        unchecked: { kmsMasterKeyId: REF },
    },
    "aws:sqs/queuePolicy:QueuePolicy": { bindings: [], unchecked: { policy: DOC, queueUrl: REF } },
    // ---- the budget enforcer (cluster mode; infra/cluster/budget-enforcer.ts) ----------------------------------
    "aws:sns/topic:Topic": {
        bindings: [
            { prop: "name", rules: [{ doc: "sns:CreateTopic:Name", quote: "Topic names must be made up of only uppercase and lowercase ASCII letters, numbers, underscores, and hyphens, and must be between 1 and 256 characters long.", rule: { min: 1, max: 256, pattern: "[A-Za-z0-9_-]+" } }] },
            { prop: "tags{key}", rules: [...TAG_KEY, { model: "sns:CreateTopic:Tags[].Key" }] },
            { prop: "tags{}", rules: [...TAG_VALUE, { model: "sns:CreateTopic:Tags[].Value" }] },
        ],
        unchecked: { kmsMasterKeyId: REF },
    },
    "aws:sns/topicPolicy:TopicPolicy": { bindings: [], unchecked: { arn: REF, policy: DOC } },
    "aws:sns/topicSubscription:TopicSubscription": {
        bindings: [{ prop: "protocol", rules: [{ doc: "sns:Subscribe:Protocol", quote: "lambda – delivery of JSON-encoded message to an Lambda function", rule: { enum: ["http", "https", "email", "email-json", "sms", "sqs", "application", "lambda", "firehose"] } }] }],
        unchecked: { topic: REF, endpoint: REF },
    },
    "aws:lambda/function:Function": {
        bindings: [
            { prop: "name", rules: [{ model: "lambda:CreateFunction:FunctionName" }, { doc: "lambda:CreateFunction:FunctionName", quote: "If you specify only the function name, it is limited to 64 characters in length.", rule: { min: 1, max: 64 } }] },
            { prop: "description", rules: [{ model: "lambda:CreateFunction:Description" }] },
            { prop: "runtime", rules: [{ model: "lambda:CreateFunction:Runtime" }] },
            { prop: "handler", rules: [{ model: "lambda:CreateFunction:Handler" }] },
            { prop: "timeout", rules: [{ model: "lambda:CreateFunction:Timeout" }] },
            { prop: "memorySize", rules: [{ model: "lambda:CreateFunction:MemorySize" }] },
            { prop: "loggingConfig.logFormat", rules: [{ model: "lambda:CreateFunction:LoggingConfig.LogFormat" }] },
            { prop: "loggingConfig.logGroup", rules: [{ model: "lambda:CreateFunction:LoggingConfig.LogGroup" }, { model: "logs:CreateLogGroup:logGroupName" }] },
            { prop: "environment.variables{key}", rules: [{ model: "lambda:CreateFunction:Environment.Variables{key}" }] },
            { prop: "vpcConfig.subnetIds", rules: [{ model: "lambda:CreateFunction:VpcConfig.SubnetIds" }] },
            { prop: "vpcConfig.securityGroupIds", rules: [{ model: "lambda:CreateFunction:VpcConfig.SecurityGroupIds" }] },
            ...tags(),
        ],
        unchecked: { role: REF, "vpcConfig.subnetIds[]": REF, "vpcConfig.securityGroupIds[]": REF, code: "the handler's archive (infra/cluster/files/budget_enforcer.py, tested with python3)", "environment.variables{}": "the cluster's endpoint and CA and the topic ARN prefix: values AWS returned" },
    },
    "aws:lambda/permission:Permission": {
        bindings: [
            { prop: "action", rules: [{ model: "lambda:AddPermission:Action" }] },
            { prop: "principal", rules: [{ model: "lambda:AddPermission:Principal" }] },
            { prop: "function", rules: [{ model: "lambda:AddPermission:FunctionName" }] },
        ],
        unchecked: { sourceArn: REF },
    },
    "aws:cloudwatch/logGroup:LogGroup": {
        bindings: [
            { prop: "name", rules: [{ model: "logs:CreateLogGroup:logGroupName" }] },
            { prop: "retentionInDays", rules: [{ doc: "logs:PutRetentionPolicy:retentionInDays", quote: "Possible values are: 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, and 3653.", rule: { enum: [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653] } }] },
            ...modelTags("logs:CreateLogGroup:tags{key}", "logs:CreateLogGroup:tags{}"),
        ],
        unchecked: { kmsKeyId: REF },
    },
    "aws:cloudwatch/eventRule:EventRule": {
        bindings: [
            { prop: "name", rules: [{ model: "events:PutRule:Name" }] },
            { prop: "description", rules: [{ model: "events:PutRule:Description" }] },
            { prop: "eventPattern", rules: [{ model: "events:PutRule:EventPattern" }] },
            ...tags(),
        ],
        autoname: { prop: "name", maxLength: 64, source: `${PULUMI_AWS}: aws_cloudwatch_event_rule AutoName("name", 64, "-")` },
    },
    "aws:cloudwatch/eventTarget:EventTarget": {
        bindings: [{ prop: "targetId", rules: [{ model: "events:PutTargets:Targets[].Id" }] }, { prop: "rule", rules: [{ model: "events:PutTargets:Rule" }] }],
        autoname: { prop: "targetId", maxLength: 255, source: `${PULUMI_AWS}: aws_cloudwatch_event_target AutoName("targetId", 255, "-")` },
        unchecked: { arn: REF },
    },

    // ---- identity -----------------------------------------------------------------------------------------
    "aws:iam/role:Role": {
        bindings: [
            { prop: "name", rules: [ROLE_NAME] },
            { prop: "description", rules: [{ model: "iam:CreateRole:Description" }] },
            { prop: "maxSessionDuration", rules: [{ model: "iam:CreateRole:MaxSessionDuration" }] },
            { prop: "assumeRolePolicy", rules: [{ model: "iam:CreateRole:AssumeRolePolicyDocument" }] },
            ...modelTags("iam:CreateRole:Tags[].Key", "iam:CreateRole:Tags[].Value"),
        ],
        autoname: { prop: "name", maxLength: 64, source: `${PULUMI_AWS}: aws_iam_role AutoName("name", 64, "-")` },
    },
    "aws:iam/rolePolicy:RolePolicy": {
        bindings: [{ prop: "name", rules: [{ model: "iam:PutRolePolicy:PolicyName" }] }, { prop: "role", rules: [ROLE_NAME] }, { prop: "policy", rules: [{ model: "iam:PutRolePolicy:PolicyDocument" }] }],
        autoname: { prop: "name", maxLength: 255, source: `${PULUMI_AWS}: SetAutonaming(255, "-") (no override for aws_iam_role_policy)` },
    },
    "aws:iam/policy:Policy": {
        bindings: [
            { prop: "name", rules: [{ model: "iam:CreatePolicy:PolicyName" }] },
            { prop: "description", rules: [{ model: "iam:CreatePolicy:Description" }] },
            { prop: "policy", rules: [{ model: "iam:CreatePolicy:PolicyDocument" }] },
            ...modelTags("iam:CreatePolicy:Tags[].Key", "iam:CreatePolicy:Tags[].Value"),
        ],
    },
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": { bindings: [{ prop: "role", rules: [ROLE_NAME] }, { prop: "policyArn", rules: [{ model: "iam:AttachRolePolicy:PolicyArn" }] }] },
    "aws:iam/instanceProfile:InstanceProfile": {
        bindings: [
            { prop: "name", rules: [{ model: "iam:CreateInstanceProfile:InstanceProfileName" }] },
            { prop: "role", rules: [ROLE_NAME] },
            ...modelTags("iam:CreateInstanceProfile:Tags[].Key", "iam:CreateInstanceProfile:Tags[].Value"),
        ],
        autoname: { prop: "name", maxLength: 255, source: `${PULUMI_AWS}: SetAutonaming(255, "-")` },
    },
    "aws:ssm/parameter:Parameter": {
        bindings: [
            { prop: "name", rules: [{ model: "ssm:PutParameter:Name" }, { doc: "ssm:PutParameter:Name", quote: "The maximum length for a parameter name that you specify is 1011 characters. This count of 1011 characters includes the characters in the ARN that precede the name you specify.", rule: { max: 1011 - "arn:aws-us-gov:ssm:ap-southeast-4:123456789012:parameter".length } }, { doc: "ssm:PutParameter:Name", quote: "Parameter names can include only the following symbols and letters: a-zA-Z0-9_.- In addition, the slash character ( / ) is used to delineate hierarchies in parameter names.", rule: { pattern: "[a-zA-Z0-9_.\\-]+|(/[a-zA-Z0-9_.\\-]+)+" } }, { doc: "ssm:PutParameter:Name", quote: "Parameter hierarchies are limited to a maximum depth of fifteen levels.", rule: { pattern: "[^/]*(/[^/]*){0,15}" } }, { doc: "ssm:PutParameter:Name", quote: "A parameter name can't be prefixed with \" aws \" or \" ssm \" (case-insensitive).", rule: { pattern: "(?!/?(?:[aA][wW][sS]|[sS][sS][mM]))[\\s\\S]*" } }] },
            { prop: "description", rules: [{ model: "ssm:PutParameter:Description" }] },
            { prop: "type", rules: [{ model: "ssm:PutParameter:Type" }] },
            { prop: "tier", rules: [{ model: "ssm:PutParameter:Tier" }] },
            { prop: "keyId", rules: [KMS_KEY_ID_SSM] },
            ...modelTags("ssm:PutParameter:Tags[].Key", "ssm:PutParameter:Tags[].Value"),
        ],
        unchecked: { value: SECRET },
    },

    // ---- network ------------------------------------------------------------------------------------------
    "aws:ec2/vpc:Vpc": { bindings: tags(), unchecked: { cidrBlock: "vpcCidr from the validated config (infra/config: an RFC 1918 network address, /16-/24 instance mode, /16-/20 cluster mode)", enableDnsHostnames: FLAG, enableDnsSupport: FLAG } },
    "aws:ec2/subnet:Subnet": {
        bindings: [{ prop: "availabilityZone", rules: [AZ_NAME] }, ...tags()],
        unchecked: { cidrBlock: "a subnet of the VPC CIDR computed by infra (tested in the network tests)", mapPublicIpOnLaunch: FLAG, vpcId: REF },
    },
    "aws:ec2/internetGateway:InternetGateway": { bindings: tags(), unchecked: { vpcId: REF } },
    "aws:ec2/routeTable:RouteTable": { bindings: tags(), unchecked: { routes: "routes to ids other resources return", vpcId: REF } },
    "aws:ec2/routeTableAssociation:RouteTableAssociation": { bindings: [], unchecked: { routeTableId: REF, subnetId: REF } },
    "aws:ec2/vpcEndpoint:VpcEndpoint": {
        bindings: [{ prop: "vpcEndpointType", rules: [{ model: "ec2:CreateVpcEndpoint:VpcEndpointType" }] }, ...tags()],
        unchecked: { serviceName: "com.amazonaws.<region>.s3, the S3 gateway endpoint of the stack's region (checked above as the provider's region)", routeTableIds: REF, vpcId: REF },
    },
    "aws:ec2/securityGroup:SecurityGroup": {
        bindings: [
            { prop: "name", rules: [{ doc: "ec2:CreateSecurityGroup:GroupName", quote: "Constraints: Up to 255 characters in length. Can't start with sg- . Valid characters: a-z, A-Z, 0-9, spaces, and ._-:/()#,@[]+=&;{}!$*", rule: { max: 255, pattern: EC2_SG_CHARS, notPrefix: ["sg-"] } }] },
            { prop: "description", rules: [{ doc: "ec2:CreateSecurityGroup:Description", quote: "Constraints: Up to 255 characters in length Valid characters: a-z, A-Z, 0-9, spaces, and ._-:/()#,@[]+=&;{}!$*", rule: { max: 255, pattern: EC2_SG_CHARS } }] },
            { prop: "ingress[].description", rules: [SG_RULE_DESCRIPTION] },
            { prop: "egress[].description", rules: [SG_RULE_DESCRIPTION] },
            ...tags(),
        ],
        autoname: { prop: "name", maxLength: 255, source: `${PULUMI_AWS}: SetAutonaming(255, "-") (aws_security_group)` },
        unchecked: { vpcId: REF },
    },
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": {
        bindings: [{ prop: "description", rules: [SG_RULE_DESCRIPTION] }, { prop: "ipProtocol", rules: [IP_PROTOCOL] }, { prop: "fromPort", rules: [PORT] }, { prop: "toPort", rules: [PORT] }, ...tags()],
        unchecked: { cidrIpv4: "a CIDR from the validated config (infra/config: accessCidrs)", securityGroupId: REF, referencedSecurityGroupId: REF },
    },
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": {
        bindings: [{ prop: "description", rules: [SG_RULE_DESCRIPTION] }, { prop: "ipProtocol", rules: [IP_PROTOCOL] }, { prop: "fromPort", rules: [PORT] }, { prop: "toPort", rules: [PORT] }, ...tags()],
        unchecked: { cidrIpv4: "a CIDR of the program (0.0.0.0/0 egress)", securityGroupId: REF, referencedSecurityGroupId: REF },
    },

    // ---- instance mode ------------------------------------------------------------------------------------
    "aws:ec2/instance:Instance": {
        bindings: [
            { prop: "instanceType", rules: [{ model: "ec2:RunInstances:InstanceType" }] },
            { prop: "instanceInitiatedShutdownBehavior", rules: [{ model: "ec2:RunInstances:InstanceInitiatedShutdownBehavior" }] },
            { prop: "metadataOptions.httpTokens", rules: [{ model: "ec2:RunInstances:MetadataOptions.HttpTokens" }] },
            { prop: "metadataOptions.httpEndpoint", rules: [{ model: "ec2:RunInstances:MetadataOptions.HttpEndpoint" }] },
            { prop: "metadataOptions.instanceMetadataTags", rules: [{ model: "ec2:RunInstances:MetadataOptions.InstanceMetadataTags" }] },
            { prop: "metadataOptions.httpPutResponseHopLimit", rules: [{ doc: "ec2:RunInstances:MetadataOptions.HttpPutResponseHopLimit", quote: "Possible values: Integers from 1 to 64", rule: { min: 1, max: 64 } }] },
            { prop: "rootBlockDevice.volumeType", rules: [{ model: "ec2:RunInstances:BlockDeviceMappings[].Ebs.VolumeType" }] },
            { prop: "rootBlockDevice.volumeSize", rules: [{ doc: "ec2:RunInstances:BlockDeviceMappings[].Ebs.VolumeSize", quote: "gp3 : 1 - 65,536 GiB", rule: { min: 1, max: 65536 } }] },
            { prop: "rootBlockDevice.tags{key}", rules: TAG_KEY },
            { prop: "rootBlockDevice.tags{}", rules: TAG_VALUE },
            { prop: "availabilityZone", rules: [AZ_NAME] },
            { prop: "iamInstanceProfile", rules: [{ model: "iam:CreateInstanceProfile:InstanceProfileName" }] },
            ...tags(),
        ],
        unchecked: { "rootBlockDevice.deleteOnTermination": FLAG, "rootBlockDevice.encrypted": FLAG, "rootBlockDevice.kmsKeyId": REF, ami: REF, associatePublicIpAddress: FLAG, ebsOptimized: FLAG, monitoring: FLAG, sourceDestCheck: FLAG, subnetId: REF, userData: USERDATA, userDataBase64: USERDATA, userDataReplaceOnChange: FLAG, vpcSecurityGroupIds: REF },
    },
    "aws:ebs/volume:Volume": {
        bindings: [
            { prop: "type", rules: [{ model: "ec2:CreateVolume:VolumeType" }] },
            { prop: "size", rules: [{ doc: "ec2:CreateVolume:Size", quote: "gp3: 1 - 65,536 GiB", rule: { min: 1, max: 65536 } }] },
            { prop: "iops", rules: [{ doc: "ec2:CreateVolume:Iops", quote: "gp3: 3,000 ( default ) - 80,000 IOPS", rule: { min: 3000, max: 80000 } }] },
            { prop: "throughput", rules: [{ doc: "ec2:CreateVolume:Throughput", quote: "Valid Range: 125 - 2000 MiB/s", rule: { min: 125, max: 2000 } }] },
            { prop: "availabilityZone", rules: [AZ_NAME] },
            ...tags(),
        ],
        unchecked: { encrypted: FLAG, finalSnapshot: FLAG, kmsKeyId: REF, snapshotId: `${REF}: restoreFromSnapshot, snap- and 8 or 17 hex digits (infra/config SNAPSHOT_ID)` },
    },
    "aws:ec2/volumeAttachment:VolumeAttachment": {
        bindings: [],
        unchecked: { deviceName: "the constant /dev/sdf (infra/instance: the workspace device archaeo-mount finds by volume id on Nitro)", instanceId: REF, volumeId: REF, stopInstanceBeforeDetaching: FLAG },
    },
    "aws:ec2transitgateway/instanceState:InstanceState": {
        bindings: [
            { prop: "state", rules: [{ provider: "terraform-provider-aws internal/service/ec2/ec2_instance_state.go (state: StringInSlice running, stopped; @pulumi/aws ec2transitgateway/instanceState.d.ts: \"Valid values are `stopped`, `running`\")", rule: { enum: ["running", "stopped"] } }] },
        ],
        unchecked: { instanceId: REF, force: FLAG },
    },
    "aws:dlm/lifecyclePolicy:LifecyclePolicy": {
        bindings: [
            { prop: "description", rules: [{ model: "dlm:CreateLifecyclePolicy:Description" }] },
            { prop: "executionRoleArn", rules: [{ model: "dlm:CreateLifecyclePolicy:ExecutionRoleArn" }] },
            { prop: "state", rules: [{ model: "dlm:CreateLifecyclePolicy:State" }] },
            { prop: "policyDetails.policyType", rules: [{ model: "dlm:CreateLifecyclePolicy:PolicyDetails.PolicyType" }] },
            { prop: "policyDetails.resourceTypes", rules: [{ model: "dlm:CreateLifecyclePolicy:PolicyDetails.ResourceTypes" }] },
            { prop: "policyDetails.resourceTypes[]", rules: [{ model: "dlm:CreateLifecyclePolicy:PolicyDetails.ResourceTypes[]" }] },
            { prop: "policyDetails.targetTags{key}", rules: [{ model: "dlm:CreateLifecyclePolicy:PolicyDetails.TargetTags[].Key" }] },
            { prop: "policyDetails.targetTags{}", rules: [{ model: "dlm:CreateLifecyclePolicy:PolicyDetails.TargetTags[].Value" }] },
            { prop: "policyDetails.schedules", rules: [{ model: "dlm:CreateLifecyclePolicy:PolicyDetails.Schedules" }] },
            { prop: "policyDetails.schedules[].name", rules: [{ model: "dlm:CreateLifecyclePolicy:PolicyDetails.Schedules[].Name" }] },
            { prop: "policyDetails.schedules[].createRule.intervalUnit", rules: [{ model: "dlm:CreateLifecyclePolicy:PolicyDetails.Schedules[].CreateRule.IntervalUnit" }] },
            { prop: "policyDetails.schedules[].createRule.interval", rules: [{ model: "dlm:CreateLifecyclePolicy:PolicyDetails.Schedules[].CreateRule.Interval" }] },
            { prop: "policyDetails.schedules[].createRule.times[]", rules: [{ model: "dlm:CreateLifecyclePolicy:PolicyDetails.Schedules[].CreateRule.Times[]" }] },
            { prop: "policyDetails.schedules[].retainRule.count", rules: [{ model: "dlm:CreateLifecyclePolicy:PolicyDetails.Schedules[].RetainRule.Count" }] },
            { prop: "policyDetails.schedules[].crossRegionCopyRules[].target", rules: [{ model: "dlm:CreateLifecyclePolicy:PolicyDetails.Schedules[].CrossRegionCopyRules[].Target" }] },
            { prop: "policyDetails.schedules[].crossRegionCopyRules[].retainRule.interval", rules: [{ model: "dlm:CreateLifecyclePolicy:PolicyDetails.Schedules[].CrossRegionCopyRules[].RetainRule.Interval" }] },
            { prop: "policyDetails.schedules[].crossRegionCopyRules[].retainRule.intervalUnit", rules: [{ model: "dlm:CreateLifecyclePolicy:PolicyDetails.Schedules[].CrossRegionCopyRules[].RetainRule.IntervalUnit" }] },
            { prop: "policyDetails.schedules[].tagsToAdd{key}", rules: [{ model: "dlm:CreateLifecyclePolicy:PolicyDetails.Schedules[].TagsToAdd[].Key" }] },
            { prop: "policyDetails.schedules[].tagsToAdd{}", rules: [{ model: "dlm:CreateLifecyclePolicy:PolicyDetails.Schedules[].TagsToAdd[].Value" }] },
            ...modelTags("dlm:CreateLifecyclePolicy:Tags{key}", "dlm:CreateLifecyclePolicy:Tags{}"),
        ],
        unchecked: { "policyDetails.schedules[].copyTags": FLAG, "policyDetails.schedules[].crossRegionCopyRules[].copyTags": FLAG, "policyDetails.schedules[].crossRegionCopyRules[].encrypted": FLAG, "policyDetails.schedules[].crossRegionCopyRules[].cmkArn": "the copy region's KMS key ARN from the validated config (backupCopyKmsKeyArn)" },
    },

    // ---- cluster mode -------------------------------------------------------------------------------------
    "aws:ec2/launchTemplate:LaunchTemplate": {
        bindings: [
            { prop: "name", rules: [{ model: "ec2:CreateLaunchTemplate:LaunchTemplateName" }] },
            { prop: "description", rules: [{ model: "ec2:CreateLaunchTemplate:VersionDescription" }] },
            { prop: "blockDeviceMappings[].ebs.volumeType", rules: [{ model: "ec2:CreateLaunchTemplate:LaunchTemplateData.BlockDeviceMappings[].Ebs.VolumeType" }] },
            { prop: "metadataOptions.httpTokens", rules: [{ model: "ec2:CreateLaunchTemplate:LaunchTemplateData.MetadataOptions.HttpTokens" }] },
            { prop: "metadataOptions.httpEndpoint", rules: [{ model: "ec2:CreateLaunchTemplate:LaunchTemplateData.MetadataOptions.HttpEndpoint" }] },
            { prop: "metadataOptions.httpPutResponseHopLimit", rules: [{ doc: "ec2:CreateLaunchTemplate:LaunchTemplateData.MetadataOptions.HttpPutResponseHopLimit", quote: "Possible values: Integers from 1 to 64", rule: { min: 1, max: 64 } }] },
            { prop: "blockDeviceMappings[].ebs.volumeSize", rules: [{ doc: "ec2:CreateLaunchTemplate:LaunchTemplateData.BlockDeviceMappings[].Ebs.VolumeSize", quote: "gp3 : 1 - 65,536 GiB", rule: { min: 1, max: 65536 } }] },
            { prop: "tagSpecifications[].resourceType", rules: [{ model: "ec2:CreateLaunchTemplate:LaunchTemplateData.TagSpecifications[].ResourceType" }] },
            { prop: "tagSpecifications[].tags{key}", rules: TAG_KEY },
            { prop: "tagSpecifications[].tags{}", rules: TAG_VALUE },
            ...tags(),
        ],
        unchecked: { "blockDeviceMappings[].deviceName": "the AMI's root device (/dev/xvda on AL2023)", "blockDeviceMappings[].ebs.deleteOnTermination": FLAG, "blockDeviceMappings[].ebs.encrypted": FLAG, "blockDeviceMappings[].ebs.kmsKeyId": REF },
        autoname: { prop: "name", maxLength: 255, source: `${PULUMI_AWS}: SetAutonaming(255, "-") (aws_launch_template)` },
    },
    "aws:eks/cluster:Cluster": {
        bindings: [
            { prop: "name", rules: [EKS_CLUSTER] },
            { prop: "version", rules: [{ model: "eks:CreateCluster:version" }] },
            { prop: "accessConfig.authenticationMode", rules: [{ model: "eks:CreateCluster:accessConfig.authenticationMode" }] },
            { prop: "upgradePolicy.supportType", rules: [{ model: "eks:CreateCluster:upgradePolicy.supportType" }] },
            { prop: "enabledClusterLogTypes[]", rules: [{ model: "eks:CreateCluster:logging.clusterLogging[].types[]" }] },
            { prop: "encryptionConfig.resources[]", rules: [{ provider: "terraform-provider-aws internal/service/eks/cluster.go (encryption_config.resources: \"secrets\")", rule: { enum: ["secrets"] } }] },
            ...modelTags("eks:CreateCluster:tags{key}", "eks:CreateCluster:tags{}"),
        ],
        unchecked: { "accessConfig.bootstrapClusterCreatorAdminPermissions": FLAG, "encryptionConfig.provider.keyArn": REF, bootstrapSelfManagedAddons: FLAG, roleArn: REF, vpcConfig: "subnet ids (REF) and publicAccessCidrs from the validated config (clusterApiCidrs)" },
    },
    "aws:eks/nodeGroup:NodeGroup": {
        bindings: [
            // EKS puts the node group's name on every node as the label eks.amazonaws.com/nodegroup: a label value.
            { prop: "nodeGroupName", rules: [{ provider: "k8s.io/apimachinery pkg/util/validation/validation.go IsValidLabelValue (EKS labels each node eks.amazonaws.com/nodegroup=<name>)", rule: { ...LABEL_VALUE, min: 1 } }] },
            { prop: "clusterName", rules: [EKS_CLUSTER] },
            { prop: "amiType", rules: [{ model: "eks:CreateNodegroup:amiType" }] },
            { prop: "version", rules: [{ model: "eks:CreateNodegroup:version" }] },
            { prop: "capacityType", rules: [{ model: "eks:CreateNodegroup:capacityType" }] },
            { prop: "instanceTypes[]", rules: [{ model: "ec2:RunInstances:InstanceType" }] },
            { prop: "labels{key}", rules: [{ model: "eks:CreateNodegroup:labels{key}" }] },
            { prop: "labels{}", rules: [{ model: "eks:CreateNodegroup:labels{}" }] },
            { prop: "scalingConfig.minSize", rules: [{ model: "eks:CreateNodegroup:scalingConfig.minSize" }] },
            { prop: "scalingConfig.maxSize", rules: [{ model: "eks:CreateNodegroup:scalingConfig.maxSize" }] },
            { prop: "scalingConfig.desiredSize", rules: [{ model: "eks:CreateNodegroup:scalingConfig.desiredSize" }] },
            ...modelTags("eks:CreateNodegroup:tags{key}", "eks:CreateNodegroup:tags{}"),
        ],
        unchecked: { launchTemplate: REF, nodeRoleArn: REF, subnetIds: REF },
    },
    "aws:eks/addon:Addon": {
        bindings: [
            { prop: "clusterName", rules: [{ model: "eks:CreateAddon:clusterName" }] },
            { prop: "resolveConflictsOnCreate", rules: [{ model: "eks:CreateAddon:resolveConflicts" }, { provider: "terraform-provider-aws internal/service/eks/addon.go (resolve_conflicts_on_create: StringInSlice NONE, OVERWRITE)", rule: { enum: ["NONE", "OVERWRITE"] } }] },
            { prop: "resolveConflictsOnUpdate", rules: [{ model: "eks:CreateAddon:resolveConflicts" }] },
            { prop: "podIdentityAssociations[].serviceAccount", rules: [{ model: "eks:CreateAddon:podIdentityAssociations[].serviceAccount" }, K8S_SERVICE_ACCOUNT] },
            ...modelTags("eks:CreateAddon:tags{key}", "eks:CreateAddon:tags{}"),
        ],
        unchecked: { "podIdentityAssociations[].roleArn": REF, addonName: "an EKS add-on name from DescribeAddonVersions (pinned in infra/cluster/eks.ts)", addonVersion: "an add-on version from DescribeAddonVersions (pinned in infra/cluster/eks.ts)", configurationValues: "the add-on's JSON configuration (checked against each add-on's schema in the cluster tests)" },
    },
    "aws:eks/accessEntry:AccessEntry": {
        bindings: [
            { prop: "clusterName", rules: [EKS_CLUSTER] },
            { prop: "type", rules: [{ doc: "eks:CreateAccessEntry:type", quote: "If the principalArn is for an IAM role that's used for self-managed Amazon EC2 nodes, specify EC2_LINUX or EC2_WINDOWS", rule: { enum: ["STANDARD", "EC2_LINUX", "EC2_WINDOWS", "FARGATE_LINUX", "EC2", "HYBRID_LINUX", "HYPERPOD_LINUX"] } }] },
            { prop: "userName", rules: [{ page: "https://docs.aws.amazon.com/eks/latest/userguide/set-custom-username.html", quote: "The username can't start with system:, eks:, aws:, amazon:, or iam:.", rule: { min: 1, notPrefix: ["system:", "eks:", "aws:", "amazon:", "iam:"] } }] },
            ...modelTags("eks:CreateAccessEntry:tags{key}", "eks:CreateAccessEntry:tags{}"),
        ],
        unchecked: { principalArn: "an IAM principal ARN from the validated config or another resource", "kubernetesGroups[]": "the budget enforcer's Kubernetes group (infra/cluster/budget-stop.ts ENFORCER), checked as an RBAC subject by kubernetes-models" },
    },
    "aws:eks/accessPolicyAssociation:AccessPolicyAssociation": {
        bindings: [{ prop: "clusterName", rules: [EKS_CLUSTER] }, { prop: "accessScope.type", rules: [{ model: "eks:AssociateAccessPolicy:accessScope.type" }] }, { prop: "accessScope.namespaces[]", rules: [K8S_NAMESPACE] }],
        unchecked: { policyArn: "an EKS access policy ARN (AWS-defined)", principalArn: "an IAM principal ARN from the validated config or another resource" },
    },
    "aws:eks/podIdentityAssociation:PodIdentityAssociation": {
        bindings: [
            { prop: "clusterName", rules: [EKS_CLUSTER] },
            { prop: "namespace", rules: [K8S_NAMESPACE] },
            { prop: "serviceAccount", rules: [K8S_SERVICE_ACCOUNT] },
            ...modelTags("eks:CreatePodIdentityAssociation:tags{key}", "eks:CreatePodIdentityAssociation:tags{}"),
        ],
        unchecked: { roleArn: REF },
    },
    "aws:efs/fileSystem:FileSystem": {
        bindings: [
            { prop: "creationToken", rules: [{ model: "efs:CreateFileSystem:CreationToken" }] },
            { prop: "performanceMode", rules: [{ model: "efs:CreateFileSystem:PerformanceMode" }] },
            { prop: "throughputMode", rules: [{ model: "efs:CreateFileSystem:ThroughputMode" }] },
            { prop: "lifecyclePolicies[].transitionToIa", rules: [{ model: "efs:PutLifecycleConfiguration:LifecyclePolicies[].TransitionToIA" }] },
            { prop: "lifecyclePolicies[].transitionToPrimaryStorageClass", rules: [{ model: "efs:PutLifecycleConfiguration:LifecyclePolicies[].TransitionToPrimaryStorageClass" }] },
            { prop: "lifecyclePolicies[].transitionToArchive", rules: [{ model: "efs:PutLifecycleConfiguration:LifecyclePolicies[].TransitionToArchive" }] },
            ...modelTags("efs:CreateFileSystem:Tags[].Key", "efs:CreateFileSystem:Tags[].Value"),
        ],
        autoname: { prop: "creationToken", maxLength: 255, source: `${PULUMI_AWS}: aws_efs_file_system AutoName("creationToken", 255, "-") (EFS's model then allows 64)` },
        unchecked: { encrypted: FLAG, kmsKeyId: REF },
    },
    "aws:efs/mountTarget:MountTarget": { bindings: [], unchecked: { fileSystemId: REF, securityGroups: REF, subnetId: REF } },
    "aws:efs/accessPoint:AccessPoint": {
        bindings: [
            { prop: "posixUser.uid", rules: [{ model: "efs:CreateAccessPoint:PosixUser.Uid" }] },
            { prop: "posixUser.gid", rules: [{ model: "efs:CreateAccessPoint:PosixUser.Gid" }] },
            { prop: "rootDirectory.path", rules: [{ model: "efs:CreateAccessPoint:RootDirectory.Path" }] },
            { prop: "rootDirectory.creationInfo.permissions", rules: [{ model: "efs:CreateAccessPoint:RootDirectory.CreationInfo.Permissions" }] },
            { prop: "rootDirectory.creationInfo.ownerUid", rules: [{ model: "efs:CreateAccessPoint:RootDirectory.CreationInfo.OwnerUid" }] },
            { prop: "rootDirectory.creationInfo.ownerGid", rules: [{ model: "efs:CreateAccessPoint:RootDirectory.CreationInfo.OwnerGid" }] },
            ...modelTags("efs:CreateAccessPoint:Tags[].Key", "efs:CreateAccessPoint:Tags[].Value"),
        ],
        unchecked: { fileSystemId: REF },
    },
    "aws:backup/vault:Vault": {
        bindings: [{ prop: "name", rules: [{ model: "backup:CreateBackupVault:BackupVaultName" }] }, ...tags()],
        unchecked: { kmsKeyArn: REF, forceDestroy: FLAG },
    },
    "aws:backup/plan:Plan": {
        bindings: [
            { prop: "name", rules: [{ doc: "backup:CreateBackupPlan:BackupPlan.BackupPlanName", quote: "Must contain 1 to 50 alphanumeric or '-_.' characters.", rule: { min: 1, max: 50, pattern: "[a-zA-Z0-9\\-_.]+" } }] },
            { prop: "rules[].ruleName", rules: [{ model: "backup:CreateBackupPlan:BackupPlan.Rules[].RuleName" }] },
            { prop: "rules[].targetVaultName", rules: [{ model: "backup:CreateBackupPlan:BackupPlan.Rules[].TargetBackupVaultName" }] },
            { prop: "rules[].schedule", rules: [{ model: "backup:CreateBackupPlan:BackupPlan.Rules[].ScheduleExpression" }] },
            { prop: "rules[].lifecycle.deleteAfter", rules: [{ model: "backup:CreateBackupPlan:BackupPlan.Rules[].Lifecycle.DeleteAfterDays" }] },
            { prop: "rules[].copyActions[].lifecycle.deleteAfter", rules: [{ model: "backup:CreateBackupPlan:BackupPlan.Rules[].CopyActions[].Lifecycle.DeleteAfterDays" }] },
            ...tags(),
        ],
        unchecked: { "rules[].copyActions[].destinationVaultArn": "the copy vault's ARN (AWS issues it)" },
    },
    "aws:backup/selection:Selection": {
        bindings: [{ prop: "name", rules: [{ model: "backup:CreateBackupSelection:BackupSelection.SelectionName" }, { doc: "backup:CreateBackupSelection:BackupSelection.SelectionName", quote: "Must contain 1 to 50 alphanumeric or '-_.' characters.", rule: { min: 1, max: 50 } }] }],
        unchecked: { iamRoleArn: REF, planId: REF, resources: "ARNs of resources the stack created" },
    },
    "aws:cognito/userPool:UserPool": {
        bindings: [
            { prop: "name", rules: [{ model: "cognito-idp:CreateUserPool:PoolName" }] },
            { prop: "mfaConfiguration", rules: [{ model: "cognito-idp:CreateUserPool:MfaConfiguration" }] },
            { prop: "deletionProtection", rules: [{ model: "cognito-idp:CreateUserPool:DeletionProtection" }] },
            { prop: "autoVerifiedAttributes[]", rules: [{ model: "cognito-idp:CreateUserPool:AutoVerifiedAttributes[]" }] },
            { prop: "accountRecoverySetting.recoveryMechanisms[].name", rules: [{ model: "cognito-idp:CreateUserPool:AccountRecoverySetting.RecoveryMechanisms[].Name" }] },
            { prop: "accountRecoverySetting.recoveryMechanisms[].priority", rules: [{ model: "cognito-idp:CreateUserPool:AccountRecoverySetting.RecoveryMechanisms[].Priority" }] },
            { prop: "passwordPolicy.minimumLength", rules: [{ model: "cognito-idp:CreateUserPool:Policies.PasswordPolicy.MinimumLength" }] },
            { prop: "passwordPolicy.temporaryPasswordValidityDays", rules: [{ model: "cognito-idp:CreateUserPool:Policies.PasswordPolicy.TemporaryPasswordValidityDays" }] },
            ...modelTags("cognito-idp:CreateUserPool:UserPoolTags{key}", "cognito-idp:CreateUserPool:UserPoolTags{}"),
        ],
        unchecked: { adminCreateUserConfig: FLAG, softwareTokenMfaConfiguration: FLAG, usernameConfiguration: FLAG, "passwordPolicy.requireLowercase": FLAG, "passwordPolicy.requireNumbers": FLAG, "passwordPolicy.requireSymbols": FLAG, "passwordPolicy.requireUppercase": FLAG },
    },
    "aws:cognito/userPoolClient:UserPoolClient": {
        bindings: [
            { prop: "name", rules: [{ model: "cognito-idp:CreateUserPoolClient:ClientName" }] },
            { prop: "allowedOauthFlows[]", rules: [{ model: "cognito-idp:CreateUserPoolClient:AllowedOAuthFlows[]" }] },
            { prop: "allowedOauthScopes[]", rules: [{ model: "cognito-idp:CreateUserPoolClient:AllowedOAuthScopes[]" }] },
            { prop: "callbackUrls[]", rules: [{ model: "cognito-idp:CreateUserPoolClient:CallbackURLs[]" }] },
            { prop: "logoutUrls[]", rules: [{ model: "cognito-idp:CreateUserPoolClient:LogoutURLs[]" }] },
            { prop: "preventUserExistenceErrors", rules: [{ model: "cognito-idp:CreateUserPoolClient:PreventUserExistenceErrors" }] },
            { prop: "supportedIdentityProviders[]", rules: [{ model: "cognito-idp:CreateUserPoolClient:SupportedIdentityProviders[]" }] },
        ],
        unchecked: { allowedOauthFlowsUserPoolClient: FLAG, generateSecret: FLAG, userPoolId: REF },
    },
    "aws:cognito/userPoolDomain:UserPoolDomain": {
        bindings: [{
            prop: "domain", rules: [
                { model: "cognito-idp:CreateUserPoolDomain:Domain" },
                // Refused anywhere in the prefix, not only as a word: CreateUserPoolDomain answers "Domain cannot contain
                // reserved word: aws" for aws-content-analysis-... (aws-solutions/content-analysis-on-aws#8) and "...: cognito"
                // for newcognito (aws-amplify/amplify-cli#3854); the three words: aws-solutions/research-service-workbench-on-aws#342.
                { page: "https://github.com/aws-solutions/research-service-workbench-on-aws/pull/342", quote: "Cognito domain is not allowed to use words \"aws\", \"amazon\", or \"cognito\".", rule: { notContaining: ["aws", "amazon", "cognito"] } },
            ],
        }],
        unchecked: { userPoolId: REF },
    },
    "aws:cognito/user:User": {
        bindings: [
            { prop: "username", rules: [{ model: "cognito-idp:AdminCreateUser:Username" }] },
            { prop: "attributes{key}", rules: [{ model: "cognito-idp:AdminCreateUser:UserAttributes[].Name" }] },
            { prop: "attributes{}", rules: [{ model: "cognito-idp:AdminCreateUser:UserAttributes[].Value" }] },
            { prop: "desiredDeliveryMediums[]", rules: [{ model: "cognito-idp:AdminCreateUser:DesiredDeliveryMediums[]" }] },
        ],
        unchecked: { userPoolId: REF },
    },
};

/** Every model member the bindings name (the generator reads exactly these from botocore), and the tag-count limit. */
export function modelMembers(): string[] {
    const out = new Set<string>(["resourcegroupstaggingapi:TagResources:Tags"]);
    for (const t of Object.values(TYPE_RULES)) for (const b of t.bindings) for (const r of b.rules) if ("model" in r) out.add(r.model);
    return [...out].sort();
}

/** Every model member whose documentation a rule quotes. */
export function docMembers(): string[] {
    const out = new Set<string>();
    for (const t of Object.values(TYPE_RULES)) {
        for (const b of t.bindings) {
            for (const r of b.rules) {
                if ("doc" in r) out.add(r.doc);
            }
        }
    }
    return [...out].sort();
}
