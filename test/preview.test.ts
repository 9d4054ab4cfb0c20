/**
 * Preview realism: the mock engine reproduces a first `pulumi preview` (dry run, computed outputs
 * unknown), each run keeps its own stack and region, and the whole pack over a first preview of
 * every stack reports exactly which checks it defers to `up`, with no silent pass and no false alarm.
 */
import { strict as assert } from "assert";
import * as pulumi from "@pulumi/pulumi";
import { UNKNOWN_VALUE } from "../tools/mock-engine";
import { observingUnknownReads, runPolicies } from "../tools/policy-runner";
import { listStacks, readStack } from "../tools/stacks";
import { PACK, silentPasses } from "./helpers/policy";
import { parseConfig } from "../infra/config";
import { engine, evaluateStack, runProgram, runStack } from "./helpers/program";

describe("mock engine: every run uses its own stack and region (issue 8 item 20)", () => {
    it("city-museum evaluated after example gets stack city-museum and eu-west-2 ARNs, and back", async () => {
        // On the old engine the first run's settings stuck: stack "test", us-east-1 ARNs for every stack.
        const example = await evaluateStack("example");
        const museum = await evaluateStack("city-museum");
        const again = await evaluateStack("example");
        for (const [run, stack, region] of [[example, "example", "us-east-1"], [museum, "city-museum", "eu-west-2"], [again, "example", "us-east-1"]] as const) {
            assert.ok(run.resources.every((r) => r.urn.startsWith(`urn:pulumi:${stack}::archaeo-workbench::`)), `${stack}: ${run.resources[0].urn}`);
            const key = run.engine.one("aws:kms/key:Key");
            assert.equal(key.state.arn.split(":")[3], region, `${stack} key ARN ${key.state.arn}`);
            assert.equal(String(run.outputs.kmsKeyArn).split(":")[3], region);
            const repo = run.engine.one("aws:ecr/repository:Repository");
            assert.match(repo.state.repositoryUrl, new RegExp(`\\.dkr\\.ecr\\.${region}\\.amazonaws\\.com/`));
        }
    });

    it("a throw inside an apply that nothing awaits fails the run, as the CLI fails `pulumi up` on an unhandled rejection", async () => {
        const s = readStack("example");
        const run = runProgram(parseConfig(s.raw, { stack: "example", region: s.region }));
        // While the program evaluates, an apply whose Output nothing awaits throws (as one inside a component would).
        pulumi.output("x").apply((v): string => { throw new Error(`thrown inside an apply nothing awaits (${v})`); });
        await assert.rejects(run, /the program of stack example left \d+ unhandled rejection\(s\), which fail `pulumi up`:\n- Error: thrown inside an apply nothing awaits \(x\)/);
        assert.ok((await evaluateStack("example")).resources.length > 50, "the next run is clean");
    });

    it("a resource's ARN region is its own AWS provider's region, not the engine's default", async () => {
        const e = await engine(); // default region us-east-1
        const aws = require("@pulumi/aws") as typeof import("@pulumi/aws");
        const provider = new aws.Provider("sydney", { region: "ap-southeast-2" });
        new aws.kms.Key("k", { description: "k" }, { provider });
        new aws.kms.Key("k-default", { description: "k" });
        await e.settle();
        assert.equal(e.one("aws:kms/key:Key", "k").state.arn.split(":")[3], "ap-southeast-2");
        assert.equal(e.one("aws:kms/key:Key", "k-default").state.arn.split(":")[3], "us-east-1");
    });
});

describe("mock engine: what the engine receives besides values", () => {
    it("records which inputs are Pulumi secrets (the analyzer cannot see it) and which outputs are marked secret (it sees those in opts)", async () => {
        // @pulumi/policy deserializeProperties(props, false) unwraps secrets for validateResource and
        // validateStack, so "is the OIDC client secret a Pulumi secret?" is a program test, asserted on
        // secretPaths; additionalSecretOutputs reach the analyzer as opts.additionalSecretOutputs.
        const run = await runStack("example");
        const param = run.engine.one("aws:ssm/parameter:Parameter", "archaeo-ws-alice-jupyter-token");
        assert.deepEqual(param.secretPaths, ["value"]);
        assert.deepEqual(param.secretInputs, ["value"]);
        assert.deepEqual(run.engine.one("random:index/randomPassword:RandomPassword").additionalSecretOutputs, ["bcryptHash", "result"]);
    });
});

describe("mock engine: a first preview (dry run, providers answer with inputs only)", () => {
    it("computed outputs are unknown, inputs that depend on them are unknown, config and invokes stay known", async () => {
        const run = await evaluateStack("example", { preview: true });
        const key = run.engine.one("aws:kms/key:Key");
        assert.equal(key.rawState.arn, UNKNOWN_VALUE, "the key's ARN is computed by KMS");
        assert.equal(key.id, UNKNOWN_VALUE);
        assert.equal(run.engine.one("aws:ebs/volume:Volume").rawInputs.kmsKeyId, UNKNOWN_VALUE, "the volume's key comes from the key's ARN");
        const ws = run.engine.one("aws:ec2/instance:Instance");
        assert.equal(ws.rawInputs.userDataBase64, UNKNOWN_VALUE, "user data (gzip, base64) embeds the image digest and the volume id");
        assert.equal(ws.rawInputs.userData, undefined, "the workstation passes its user data as userDataBase64 only");
        assert.equal(run.engine.one("aws:ec2/securityGroup:SecurityGroup").rawInputs.vpcId, UNKNOWN_VALUE);
        // The bucket name's suffix hashes the account and region: the account comes from an invoke, answered during preview.
        assert.match(run.engine.one("aws:s3/bucket:Bucket", "archaeo-datasets").rawInputs.bucket, /^archaeo-example-lab-example-data-[0-9a-f]{8}$/);
        assert.equal(run.engine.one("aws:iam/role:Role", "archaeo-ws-alice-role").rawState.name, "archaeo-example-lab-example-ws-alice", "an output that echoes an input is known");
        assert.equal(run.outputs.kmsKeyArn, undefined);
        assert.equal(pulumi.runtime.isDryRun(), true);
    });

    it("the next run with resolved values has no unknowns left", async () => {
        await evaluateStack("example", { preview: true });
        const run = await evaluateStack("example");
        assert.equal(pulumi.runtime.isDryRun(), false);
        assert.ok(!JSON.stringify(run.resources.map((r) => [r.rawInputs, r.rawState])).includes(UNKNOWN_VALUE));
    });
});

/** The researcher ids of a stack file, in order. */
const ids = (stack: string) => (readStack(stack).raw["archaeo-workbench:researchers"] as Array<{ id: string }>).map((r) => r.id);
const each = (stack: string, f: (id: string) => string[]) => ids(stack).flatMap(f).sort();

/**
 * Instance mode at a first preview. Each entry waits for a value computed by a resource the preview
 * has not created yet: the key ARN (volumes, root devices, the token parameter, SSE, ECR, the trail),
 * bucket ids and ARNs (bucket parts, bucket policies, trail selectors), the instance ARN, key ARN and
 * bucket in the researcher's and workstation's policies, the image digest and volume id in user data
 * (userDataBase64), and the account, derived from ARNs (no allowedAccountIds without kmsKeyArn). The
 * workstation's hop limit is judged at preview: its researcher tag marks it a container host.
 */
const instanceMode = (stack: string): Record<string, string[]> => ({
    "ebs-volumes-encrypted-cmk": each(stack, (id) => [`archaeo-ws-${id}-workspace`]),
    "ec2-containers-publish-loopback": each(stack, (id) => [`archaeo-ws-${id}-instance`]),
    "ec2-containers-unprivileged": each(stack, (id) => [`archaeo-ws-${id}-instance`]),
    "ec2-instance-volumes-encrypted-cmk": each(stack, (id) => [`archaeo-ws-${id}-instance`]),
    "ec2-user-data-no-secrets": each(stack, (id) => [`archaeo-ws-${id}-instance`]),
    "ecr-encrypted-cmk": ["archaeo-registry-repo"],
    "iam-policies-scoped": [...each(stack, (id) => [`archaeo-researcher-${id}-policy`, `archaeo-ws-${id}-policy`]), "archaeo-snapshots-kms"].sort(),
    "kms-key-references-stack-key": ["(stack)"],
    "principals-in-stack-account": ["(stack)"],
    "researcher-isolation": ["(stack)"],
    "researcher-roles-scoped": ["(stack)"],
    "resource-policies-no-public-principals": ["archaeo-audit-logs-policy", "archaeo-datasets-policy"],
    "s3-buckets-fully-configured": ["(stack)"],
    "s3-dataset-access-logged": ["(stack)"],
    "s3-lifecycle-keeps-data": ["(stack)"],
    "s3-sse-kms-cmk": ["archaeo-audit-logs-sse", "archaeo-datasets-sse"],
    "ssm-secure-parameters-cmk": each(stack, (id) => [`archaeo-ws-${id}-jupyter-token`]),
    "ssm-sessions-no-shell": [...each(stack, (id) => [`archaeo-researcher-${id}-policy`, `archaeo-ws-${id}-policy`]), "archaeo-snapshots-kms"].sort(),
    "workstation-image-from-stack-ecr": ["(stack)"],
});

/**
 * Cluster mode at a first preview, besides the shared foundation: the key ARN (log group, EFS, EKS,
 * launch template, NAT root, gp3 class, the EC2NodeClasses' kmsKeyID and security group id: the rest of
 * their spec, the IMDS hop limit and the tags included, is judged at preview), the static PersistentVolume specs and
 * the hub's Helm values, each built in one apply over computed values (file system and access point
 * ids, the Cognito client, the image digest), role ARNs in policies, access
 * entries and Pod Identity associations; the hub tunnel's image digest (its repository's key ARN, its
 * StatefulSet's image, the stack's ECR URL the image is compared with).
 */
const clusterMode = (stack: string): Record<string, string[]> => {
    const roles = each(stack, (id) => [`archaeo-researcher-${id}-identity-policy`, `archaeo-researcher-${id}-pods-policy`]);
    // national-heritage sets researcherBudgetMonthlyUsd: each budget's role policy (the researcher's role and deny-policy
    // ARNs), and the budget enforcer's role policy, log group key, topics and wiring (infra/cluster/budget-enforcer.ts).
    const budgets = [...each(stack, (id) => [`archaeo-budget-${id}-policy`]), "archaeo-budget-enforcer-policy"];
    const clusterPolicies = [...roles, ...budgets, "archaeo-eks-cluster-kms", "archaeo-eks-ebs-csi-kms", "archaeo-gpu-controller-policy"].sort();
    return {
        "budget-actions-scoped": ["(stack)"],
        "budget-stop-topics-scoped": ["(stack)"],
        "lambda-functions-scoped": ["(stack)"],
        "cloudwatch-log-groups-cmk": ["archaeo-budget-enforcer-logs", "archaeo-eks-logs"],
        "ec2-instance-volumes-encrypted-cmk": ["archaeo-cluster-network-nat"],
        "ecr-encrypted-cmk": ["archaeo-hub-tunnel-repo", "archaeo-registry-repo"],
        "efs-encrypted-cmk": ["archaeo-storage-efs"],
        "eks-access-entries-scoped": ["(stack)"],
        "eks-pod-identities-match-researcher": ["(stack)"],
        "eks-secrets-encrypted": ["archaeo-eks-cluster"],
        "helm-release-images-allowed": ["(stack)"],
        "helm-releases-pinned-and-unprivileged": ["archaeo-hub-release"],
        "iam-policies-scoped": clusterPolicies,
        "jupyterhub-image-and-gpu-quota": ["(stack)"],
        "jupyterhub-values-secure": ["archaeo-hub-release"],
        "k8s-images-from-stack-ecr": ["(stack)"],
        "k8s-images-pinned-by-digest": ["archaeo-hub-tunnel"],
        "k8s-pvcs-on-encrypted-storage": ["(stack)"],
        "k8s-storageclasses-encrypted": ["archaeo-storage-gp3"],
        "karpenter-nodeclass-secure": ["archaeo-gpu-nodeclass-cpu", "archaeo-gpu-nodeclass-gpu"],
        "kms-key-references-stack-key": ["(stack)"],
        "launch-template-volumes-encrypted-cmk": ["archaeo-eks-system-lt"],
        "principals-in-stack-account": ["(stack)"],
        "researcher-isolation": ["(stack)"],
        "researcher-roles-scoped": ["(stack)"],
        "resource-policies-no-public-principals": [
            "archaeo-audit-logs-policy", ...each(stack, (id) => [`archaeo-budget-enforcer-topic-${id}-policy`]), "archaeo-datasets-policy", "archaeo-gpu-interruptions-policy",
        ].sort(),
        "s3-buckets-fully-configured": ["(stack)"],
        "s3-dataset-access-logged": ["(stack)"],
        "s3-lifecycle-keeps-data": ["(stack)"],
        "s3-sse-kms-cmk": ["archaeo-audit-logs-sse", "archaeo-datasets-sse"],
        "ssm-sessions-no-shell": clusterPolicies,
        "stateful-data-backed-up": ["(stack)"],
    };
};

/**
 * What a first preview of each stack defers to `up`, per policy. If infra/ changes, re-check each
 * difference is a real unknown before updating.
 */
const EXPECTED: Record<string, Record<string, string[]>> = {
    "example": instanceMode("example"),
    "city-museum": instanceMode("city-museum"),
    "uni-archaeology": instanceMode("uni-archaeology"),
    "national-heritage": clusterMode("national-heritage"),
};

/**
 * Input/output properties unknown at a first preview that no rule reads while unknown, with why that
 * is right: wiring between resources the pack judges elsewhere, secret values no rule may read,
 * and values that say nothing about security. Anything new here (a property a rule should judge but
 * skips, as userDataBase64 was before the rules read it) fails the test below.
 * Known limits: which security groups an instance attaches (vpcSecurityGroupIds) and the CSI add-ons'
 * podIdentityAssociations are not judged by any rule.
 */
const UNJUDGED_AT_PREVIEW: Record<string, string> = {
    // Network wiring: ingress is judged on every security group and rule of the stack.
    "aws:ec2/instance:Instance subnetId": "wiring", "aws:ec2/instance:Instance vpcSecurityGroupIds": "wiring (not judged)",
    "aws:ec2/instance:Instance primaryNetworkInterfaceId": "computed, no security meaning", "aws:ec2/instance:Instance privateIp": "computed address", "aws:ec2/instance:Instance publicIp": "computed address",
    "aws:ec2/internetGateway:InternetGateway vpcId": "wiring", "aws:ec2/routeTable:RouteTable routes": "wiring", "aws:ec2/routeTable:RouteTable vpcId": "wiring",
    "aws:ec2/routeTableAssociation:RouteTableAssociation routeTableId": "wiring", "aws:ec2/routeTableAssociation:RouteTableAssociation subnetId": "wiring",
    "aws:ec2/securityGroup:SecurityGroup vpcId": "wiring", "aws:ec2/subnet:Subnet vpcId": "wiring",
    "aws:ec2/vpcEndpoint:VpcEndpoint routeTableIds": "wiring", "aws:ec2/vpcEndpoint:VpcEndpoint vpcId": "wiring",
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule securityGroupId": "egress is not judged",
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule securityGroupId": "read only when the known sources together exceed the limit",
    "aws:ec2/launchTemplate:LaunchTemplate latestVersion": "computed version number",
    // Storage, backups and the cluster's wiring.
    "aws:efs/mountTarget:MountTarget securityGroups": "wiring", "aws:efs/mountTarget:MountTarget subnetId": "wiring",
    "aws:backup/selection:Selection iamRoleArn": "the backup role is judged as a role",
    "aws:dlm/lifecyclePolicy:LifecyclePolicy executionRoleArn": "the DLM role is judged as a role",
    // The cluster's endpoint and vpcConfig are no longer listed: the test matches properties by name, and
    // lambda-functions-scoped reads a subscription's `endpoint` and a function's `vpcConfig` (their values unknown too).
    "aws:eks/cluster:Cluster certificateAuthority": "computed",
    "aws:eks/nodeGroup:NodeGroup launchTemplate": "the launch template is judged itself", "aws:eks/nodeGroup:NodeGroup nodeRoleArn": "the node role is judged as a role", "aws:eks/nodeGroup:NodeGroup subnetIds": "wiring",
    "aws:cloudwatch/eventRule:EventRule name": "computed name", "aws:cloudwatch/eventTarget:EventTarget rule": "wiring",
    "aws:sqs/queue:Queue url": "computed", "aws:sqs/queuePolicy:QueuePolicy queueUrl": "wiring (its policy is judged)",
    "aws:cognito/user:User userPoolId": "wiring", "aws:cognito/userPoolClient:UserPoolClient userPoolId": "wiring", "aws:cognito/userPoolDomain:UserPoolDomain userPoolId": "wiring",
    "pulumi:providers:kubernetes kubeconfig": "provider wiring",
    // Secrets: no rule reads a secret's value (cognito-user-pools-mfa judges that clientSecret is a secret output).
    "aws:cognito/userPoolClient:UserPoolClient clientSecret": "secret", "aws:ssm/parameter:Parameter value": "secret", "random:index/randomPassword:RandomPassword result": "secret",
    // The image and registry: rules judge the digests that reach pods, user data and Helm values.
    "aws:ecr/repository:Repository registryId": "computed account", "aws:ecr/repository:Repository repositoryUrl": "read only when an image must be compared with it",
    "docker:index/image:Image imageName": "build", "docker:index/image:Image registry": "build credentials", "docker:index/image:Image repoDigest": "the digest, judged where it is used",
    "aws:kms/alias:Alias targetKeyId": "names the stack key",
    // Per-researcher budgets and the budget enforcer (cluster mode).
    "aws:budgets/budgetAction:BudgetAction actionId": "computed id", "aws:budgets/budgetAction:BudgetAction status": "computed state",
    "aws:budgets/budgetAction:BudgetAction definition": "judged by budget-actions-scoped once the researcher's role and deny-policy ARNs it compares with are known (it defers on those)",
    "aws:iam/policy:Policy policyId": "computed id",
    "aws:lambda/function:Function invokeArn": "computed; only API Gateway uses it",
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule referencedSecurityGroupId": "egress is not judged",
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule referencedSecurityGroupId": "a security group as the source, never a public CIDR (the ingress rules judge CIDRs and prefix lists)",
};

describe("the whole pack over a first preview of every stack", () => {
    it("covers every stack in stacks/", () => assert.deepEqual(Object.keys(EXPECTED).sort(), listStacks()));

    for (const stack of Object.keys(EXPECTED)) {
        it(`${stack}: no mandatory violation, and exactly the expected checks deferred to up, each naming what is unknown`, async () => {
            const run = await runStack(stack, { preview: true });
            const r = await runPolicies(run.resources, PACK);
            assert.deepEqual(r.violations.filter((v) => v.enforcementLevel === "mandatory").map((v) => v.message), []);
            assert.equal(r.advisory, r.deferred, "every advisory at preview is a deferral");
            const got: Record<string, string[]> = {};
            for (const v of r.violations) (got[v.policyName] ??= []).push(v.resourceName ?? "(stack)");
            for (const k of Object.keys(got)) got[k].sort();
            assert.deepEqual(got, EXPECTED[stack]);
            for (const v of r.violations.filter((x) => x.deferred)) {
                assert.match(v.message, /^can't run policy '[a-z0-9-]+' from policy pack 'archaeo-workbench-security@v0\.1\.0' during preview: /);
                assert.match(v.message, /: [^:]+ (is|are) unknown until the resources (it|they) depends? on exist; this check is deferred to `pulumi up`, where it runs on the resolved values and is mandatory\.$/);
            }
        });
    }

    it("no rule passes silently: every evaluation that read an unknown value reported a deferral or a violation", async () => {
        // The observer wraps @pulumi/policy's own unknownCheckingProxy (tools/policy-runner.ts observingUnknownReads).
        for (const stack of Object.keys(EXPECTED)) {
            const { run, silent } = await silentPasses((await runStack(stack, { preview: true })).resources);
            assert.ok(run.deferred > 0, stack);
            assert.deepEqual(silent, [], `${stack}: read an unknown value and reported nothing`);
        }
    });

    it("every property unknown at preview that no rule reads is one argued above (no skipped security input)", async () => {
        const unread = new Set<string>();
        for (const stack of Object.keys(EXPECTED)) {
            const run = await runStack(stack, { preview: true });
            const read = new Set<string>();
            await observingUnknownReads((path) => read.add(String(path[0])), () => runPolicies(run.resources, PACK));
            for (const r of run.resources) {
                for (const props of [r.rawInputs, r.rawState]) {
                    for (const [k, v] of Object.entries(props)) if (JSON.stringify(v).includes(UNKNOWN_VALUE) && !read.has(k)) unread.add(`${r.type} ${k}`);
                }
            }
        }
        assert.deepEqual([...unread].sort(), Object.keys(UNJUDGED_AT_PREVIEW).sort());
    });

    it("the same stacks with resolved values: the deferred checks run and pass", async () => {
        for (const stack of Object.keys(EXPECTED)) {
            const r = await runPolicies((await runStack(stack)).resources, PACK);
            assert.deepEqual(r.violations.map((v) => v.message), [], stack);
            assert.equal(r.deferred, 0, stack);
        }
    });
});
