/**
 * Per-researcher budgets that act (issue 21, item 1): config (a stack default and per-researcher overrides), an
 * AWS Budget per researcher over their cost in this stack, alerts to them and the admins, and at 100% AWS Budgets
 * actions that stop the spending, run by a role that reaches only that researcher: planned for two researchers in
 * both modes, judged by the pack (budget-actions-scoped, researcher-isolation, the IAM rules), and evaluated by an
 * IAM simulator (@cloud-copilot/iam-simulate) for alice's budget role against bob.
 *
 * Upstream facts each assertion relies on:
 * - botocore budgets 2016-10-20 service-2.json: CreateBudgetAction ActionType APPLY_IAM_POLICY | APPLY_SCP_POLICY |
 *   RUN_SSM_DOCUMENTS, SsmActionDefinition ActionSubType STOP_EC2_INSTANCES | STOP_RDS_INSTANCES, Subscribers 1-11 of which at most 10 e-mail
 *   (NotificationWithSubscribers),
 *   IamActionDefinition PolicyArn arn:aws:iam::(\d{12}|aws):policy/...; ExecuteBudgetAction ExecutionType
 *   REVERSE_BUDGET_ACTION (the lift); Expression.Tags {Key, Values, MatchOptions EQUALS...} (tools/api-rules binds them).
 * - @pulumi/aws 7.48.0 budgets/budget.d.ts ("AND filter" example: filterExpression.ands[].tags { key, values }, keys
 *   without "user:") and budgets/budgetAction.d.ts (definition.iamActionDefinition / ssmActionDefinition, actionId).
 * - AWS Cost Management user guide, "AWS managed policies", AWSBudgetsActions_RolePolicyForResourceAdministrationWithSSM:
 *   ec2:StopInstances / DescribeInstanceStatus under ForAnyValue:StringEquals aws:CalledVia ssm.amazonaws.com, and
 *   ssm:StartAutomationExecution on document/AWS-StopEC2Instance, automation-definition/AWS-StopEC2Instance:* and
 *   automation-execution/* (the runbook STOP_EC2_INSTANCES runs).
 */
import { strict as assert } from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { runSimulation, type Simulation } from "@cloud-copilot/iam-simulate";
import { ACCOUNT, clusterOverrides, ED25519, parse, problems, researcher } from "./helpers/config";
import { serviceModel } from "./helpers/fake-aws";
import { BUDGET_MUTATIONS } from "./helpers/mutations";
import { PACK, packOf } from "./helpers/policy";
import { runProgram, ProgramRun, RecordedResource } from "./helpers/program";
import { runPolicies } from "../tools/policy-runner";
import { budgetActionPolicy, PolicyDocument } from "../infra/iam";
import { checkApiRules, renderFinding, uncoveredLeaves } from "../tools/api-rules/check";

const ADMIN = "research-computing@example.org";
const two = (o: Record<string, unknown> = {}) => ({
    researcherBudgetMonthlyUsd: 300,
    researchers: [researcher("alice", { email: "alice@example.org" }), researcher("bob", { budgetMonthlyUsd: 150, email: "bob@example.org" })],
    ...o,
});
/**
 * The policies that read what a budget adds (policies/rules/coverage.ts JUDGED_TYPES for Budget, BudgetAction, Policy,
 * Role, RolePolicy): the rest of the pack reads none of these types, and plan.test runs the whole pack on every stack.
 */
const JUDGES = ["budget-actions-scoped", "researcher-isolation", "iam-policies-scoped", "iam-trust-policies-scoped", "iam-managed-policies-allowlisted",
    "iam-attachments-match-roles", "researcher-roles-scoped", "required-tags", "principals-in-stack-account", "pack-judges-every-type"];
const judged = async (rs: RecordedResource[]) => {
    const { resource, stack } = PACK;
    const res = await runPolicies(rs, { resource: resource.filter((p) => JUDGES.includes(p.name)), stack: stack.filter((p) => JUDGES.includes(p.name)) }, {});
    return res.violations.filter((v) => v.enforcementLevel === "mandatory").map((v) => `${v.policyName}: ${v.message}`);
};
const named = (run: ProgramRun, type: string, name: string): RecordedResource => {
    const r = run.resources.find((x) => x.type === type && x.name === name);
    assert.ok(r, `${type} ${name}`);
    return r;
};

describe("per-researcher budgets: config", () => {
    it("off unless set: no researcher budgets by default (researcherBudgetMonthlyUsd 0)", () => {
        const cfg = parse({ researchers: [researcher("alice")] });
        assert.equal(cfg.budget.researcherMonthlyUsd, 0);
        assert.equal(cfg.researchers[0].budgetMonthlyUsd, 0);
    });
    it("a stack default, and a researcher's own amount overriding it (0 turns theirs off)", () => {
        const cfg = parse(two({ researchers: [researcher("alice"), researcher("bob", { budgetMonthlyUsd: 150 }), researcher("carol", { budgetMonthlyUsd: 0 })] }));
        assert.deepEqual(cfg.researchers.map((r) => [r.id, r.budgetMonthlyUsd]), [["alice", 300], ["bob", 150], ["carol", 0]]);
    });
    it("names the key and the range when an amount is wrong", () => {
        assert.deepEqual(problems({ researcherBudgetMonthlyUsd: -5, researchers: [researcher("alice")] }), { "archaeo-workbench:researcherBudgetMonthlyUsd": "must be 0-1000000 USD, got -5" });
        assert.deepEqual(problems({ researchers: [researcher("alice", { budgetMonthlyUsd: "lots" })] }), { "archaeo-workbench:researchers[0].budgetMonthlyUsd": "researcher 'alice': must be a whole number USD, got \"lots\"" });
    });
    // botocore budgets NotificationWithSubscribers: "A notification can have one SNS subscriber and up to 10 email
    // subscribers, for a total of 11 subscribers": the Subscribers list's max of 11 is not the e-mail limit.
    it("refuses more than 10 e-mail subscribers (admins + the researcher): AWS Budgets' e-mail limit per notification", () => {
        const tenAdmins = Array.from({ length: 10 }, (_, i) => `admin${i}@example.org`);
        const found = problems(two({ budgetAlertEmails: tenAdmins }));
        assert.match(found["archaeo-workbench:researchers[0].budgetMonthlyUsd"], /researcher 'alice': their budget alerts go to budgetAlertEmails and alice@example\.org: 11 addresses, but AWS Budgets alerts at most 10 per notification; list at most 9 budgetAlertEmails/);
        assert.equal(found["archaeo-workbench:budgetAlertEmails"], undefined, "10 admins alone fit the stack's own budget");
        assert.match(String((serviceModel("budgets").shapes.NotificationWithSubscribers as { documentation?: string }).documentation), /one SNS subscriber and up to 10 email subscribers/);
    });
    it("refuses 11 budgetAlertEmails for the stack's own budget too", () => {
        const elevenAdmins = Array.from({ length: 11 }, (_, i) => `admin${i}@example.org`);
        assert.match(problems({ budgetAlertEmails: elevenAdmins, researchers: [researcher("alice", { budgetMonthlyUsd: 0 })] })["archaeo-workbench:budgetAlertEmails"], /has 11 addresses; AWS Budgets alerts at most 10 per notification/);
    });
});

describe("per-researcher budgets: two researchers, instance mode", () => {
    let run: ProgramRun;
    before(async () => { run = await runProgram(parse(two())); });

    it("a budget per researcher over their cost in this stack (workbench AND researcher tags), alerts to them and the admins", () => {
        for (const [id, usd] of [["alice", "300.00"], ["bob", "150.00"]]) {
            const b = named(run, "aws:budgets/budget:Budget", `archaeo-budget-${id}-budget`).inputs;
            assert.equal(b.name, `archaeo-example-lab-example-researcher-${id}`);
            assert.equal(b.limitAmount, usd);
            assert.equal(b.timeUnit, "MONTHLY", "resets each month");
            assert.deepEqual(b.filterExpression, { ands: [
                { tags: { key: "workbench", values: ["archaeo-example-lab-example"], matchOptions: ["EQUALS"] } },
                { tags: { key: "researcher", values: [id], matchOptions: ["EQUALS"] } },
            ] });
            assert.deepEqual(b.notifications.map((n: any) => `${n.notificationType} ${n.threshold}`), ["ACTUAL 80", "ACTUAL 100", "FORECASTED 100"]);
            for (const n of b.notifications) assert.deepEqual(n.subscriberEmailAddresses, [ADMIN, `${id}@example.org`]);
        }
    });

    it("at 100% actual: their role denied a start of their workstation, and their workstation stopped (automatic)", () => {
        for (const id of ["alice", "bob"]) {
            const instance = named(run, "aws:ec2/instance:Instance", `archaeo-ws-${id}-instance`);
            const role = named(run, "aws:iam/role:Role", `archaeo-researcher-${id}-role`);
            const deny = named(run, "aws:iam/policy:Policy", `archaeo-budget-${id}-deny`);
            assert.deepEqual(JSON.parse(deny.inputs.policy).Statement, [{ Sid: "BudgetSpentNoStart", Effect: "Deny", Action: "ec2:StartInstances", Resource: instance.state.arn }]);
            const iamAction = named(run, "aws:budgets/budgetAction:BudgetAction", `archaeo-budget-${id}-deny-action`).inputs;
            const ssmAction = named(run, "aws:budgets/budgetAction:BudgetAction", `archaeo-budget-${id}-stop-action`).inputs;
            for (const a of [iamAction, ssmAction]) {
                assert.deepEqual([a.notificationType, a.actionThreshold, a.approvalModel], ["ACTUAL", { actionThresholdType: "PERCENTAGE", actionThresholdValue: 100 }, "AUTOMATIC"]);
                assert.equal(a.executionRoleArn, named(run, "aws:iam/role:Role", `archaeo-budget-${id}-role`).state.arn);
                assert.deepEqual(a.subscribers.map((s: any) => s.address), [ADMIN, `${id}@example.org`]);
            }
            assert.equal(iamAction.actionType, "APPLY_IAM_POLICY");
            assert.deepEqual(iamAction.definition.iamActionDefinition, { policyArn: deny.state.arn, roles: [role.inputs.name] });
            assert.equal(ssmAction.actionType, "RUN_SSM_DOCUMENTS");
            assert.deepEqual(ssmAction.definition.ssmActionDefinition, { actionSubType: "STOP_EC2_INSTANCES", region: "us-east-1", instanceIds: [instance.id] });
        }
    });

    it("an admin lifts it with one command (the researcherBudgets output): REVERSE_BUDGET_ACTION of the deny action", () => {
        const out = run.outputs.researcherBudgets as Record<string, { budgetName: string; liftCommand: string }>;
        const action = named(run, "aws:budgets/budgetAction:BudgetAction", "archaeo-budget-alice-deny-action");
        assert.equal(out.alice.liftCommand, `aws budgets execute-budget-action --account-id ${ACCOUNT} --budget-name archaeo-example-lab-example-researcher-alice --action-id ${action.state.actionId} --execution-type REVERSE_BUDGET_ACTION`);
    });

    it("the lift command (output and README) is budgets ExecuteBudgetAction with its required members and REVERSE_BUDGET_ACTION (botocore's model)", () => {
        const model = JSON.parse(spawnSync("python3", ["-c", [
            "import botocore.session, json",
            "op = botocore.session.get_session().get_service_model('budgets').operation_model('ExecuteBudgetAction')",
            "print(json.dumps({'required': op.input_shape.required_members, 'types': op.input_shape.members['ExecutionType'].enum}))",
        ].join("\n")], { encoding: "utf8" }).stdout);
        // The AWS CLI spells each member in kebab case (AccountId -> --account-id).
        const flags = model.required.map((m: string) => `--${m.replace(/[A-Z]/g, (c: string, i: number) => `${i ? "-" : ""}${c.toLowerCase()}`)}`).sort();
        const readme = fs.readFileSync(path.join(__dirname, "..", "README.md"), "utf8");
        const documented = /aws budgets execute-budget-action ([^\n]+) \\\n\s+([^#\n]+?)\s+#/.exec(readme);
        assert.ok(documented, "README documents the lift command");
        const out = run.outputs.researcherBudgets as Record<string, { liftCommand: string }>;
        for (const line of [out.alice.liftCommand, `aws budgets execute-budget-action ${documented[1]} ${documented[2]}`]) {
            const words = line.split(/\s+/);
            assert.deepEqual(words.filter((w) => w.startsWith("--")).sort(), flags, line);
            assert.ok(model.types.includes(words[words.indexOf("--execution-type") + 1]), line);
        }
    });

    it("the policies that judge budgets, roles and policies pass the stack (no mandatory violation)", async () => {
        assert.deepEqual(await judged(run.resources), []);
    });

    it("every name, amount, enum and list of the budgets, actions, roles and deny policies within AWS's API rules (botocore's models), every input bound", () => {
        const mine = run.resources.filter((r) => /^archaeo-budget-(alice|bob)-/.test(r.name) || r.type === "pulumi:providers:aws");
        assert.deepEqual(mine.filter((r) => r.type === "aws:budgets/budgetAction:BudgetAction").length, 4);
        const rep = checkApiRules(mine);
        assert.deepEqual(rep.findings.map(renderFinding), []);
        assert.deepEqual(rep.unboundTypes, []);
        for (const r of mine) assert.deepEqual(uncoveredLeaves(r), [], `${r.type} ${r.name}: every input bound or listed unchecked`);
        // The rules bite: a budget name over 100 characters, a role list entry that is an ARN, a subtype AWS lacks.
        const edited = (name: string, fn: (i: any) => void) => { const r = structuredClone(mine.find((x) => x.name === name)!); fn(r.inputs); return checkApiRules([r]).findings.map((f) => f.property); };
        assert.deepEqual(edited("archaeo-budget-alice-budget", (i) => { i.name = "x".repeat(101); }), ["name"]);
        assert.deepEqual(edited("archaeo-budget-alice-stop-action", (i) => { i.definition.ssmActionDefinition.actionSubType = "TERMINATE_EC2_INSTANCES"; }), ["definition.ssmActionDefinition.actionSubType"]);
    });

    it("each mutation of a budget role, action or deny policy is caught by budget-actions-scoped or researcher-isolation", async () => {
        const missed: string[] = [];
        for (const mu of BUDGET_MUTATIONS) {
            const rs = structuredClone(run.resources) as RecordedResource[];
            mu.mutate(rs);
            const res = await runPolicies(rs, packOf(mu.policy), {});
            if (!res.violations.some((v) => v.policyName === mu.policy && v.enforcementLevel === "mandatory")) missed.push(`${mu.policy}: ${mu.what}`);
        }
        assert.deepEqual(missed, [], "every mutation is caught by its policy");
    });
});

describe("per-researcher budgets: two researchers, cluster mode", () => {
    it("a budget per researcher whose action denies their role every AWS action (Budgets cannot act inside Kubernetes); the pack passes it", async () => {
        const run = await runProgram(parse(clusterOverrides({
            researcherBudgetMonthlyUsd: 200,
            researchers: ["alice", "bob"].map((id) => ({ id, iamPrincipalArn: `arn:aws:iam::${ACCOUNT}:role/${id}`, email: `${id}@example.org`, sshPublicKeys: [ED25519] })),
        })));
        for (const id of ["alice", "bob"]) {
            const actions = run.resources.filter((r) => r.type === "aws:budgets/budgetAction:BudgetAction" && r.name.startsWith(`archaeo-budget-${id}-`));
            assert.deepEqual(actions.map((a) => a.inputs.actionType), ["APPLY_IAM_POLICY"], "no workstation to stop");
            assert.deepEqual(JSON.parse(named(run, "aws:iam/policy:Policy", `archaeo-budget-${id}-deny`).inputs.policy).Statement, [{ Sid: "BudgetSpentNoAwsAccess", Effect: "Deny", Action: "*", Resource: "*" }]);
            assert.deepEqual(actions[0].inputs.definition.iamActionDefinition.roles, [named(run, "aws:iam/role:Role", `archaeo-researcher-${id}-identity-role`).inputs.name]);
            const policy = JSON.parse(named(run, "aws:iam/rolePolicy:RolePolicy", `archaeo-budget-${id}-policy`).inputs.policy);
            assert.deepEqual(policy.Statement.map((s: any) => s.Sid), ["DenyPolicyOnTheirRoleOnly"], "nothing to stop: IAM on their role only");
        }
        assert.deepEqual(await judged(run.resources), []);
    });
});

describe("per-researcher budgets: alice's budget role in the IAM simulator cannot touch bob", () => {
    const P = "aws";
    const REGION = "us-east-1";
    const role = (id: string) => `arn:${P}:iam::${ACCOUNT}:role/archaeo-x-researcher-${id}`;
    const deny = (id: string) => `arn:${P}:iam::${ACCOUNT}:policy/archaeo-x-budget-spent-${id}`;
    const instance = (id: string) => `arn:${P}:ec2:${REGION}:${ACCOUNT}:instance/i-0${id === "alice" ? "a11ce" : "b0b00"}000000000a`;
    const alices: PolicyDocument = budgetActionPolicy({ partition: P, region: REGION, accountId: ACCOUNT, researcherRoleArn: role("alice"), denyPolicyArn: deny("alice"), instanceArn: instance("alice") });
    const ssm = { "aws:CalledVia": ["ssm.amazonaws.com"] };
    const decide = async (action: string, resource: string, context: Record<string, string | string[]> = {}) => {
        const sim: Simulation = {
            request: { principal: `arn:${P}:iam::${ACCOUNT}:role/archaeo-x-budget-alice`, action, resource: { resource, accountId: ACCOUNT }, contextVariables: { "aws:SecureTransport": "true", ...context } },
            identityPolicies: [{ name: "budget-alice", policy: alices }], serviceControlPolicies: [], resourceControlPolicies: [],
        };
        const r = await runSimulation(sim, {});
        if (r.resultType === "error") throw new Error(`${action} ${resource}: ${JSON.stringify(r.errors)}`);
        return r.overallResult;
    };
    it("attaches and detaches alice's deny policy on alice's role", async () => {
        assert.equal(await decide("iam:AttachRolePolicy", role("alice"), { "iam:PolicyARN": deny("alice") }), "Allowed");
        assert.equal(await decide("iam:DetachRolePolicy", role("alice"), { "iam:PolicyARN": deny("alice") }), "Allowed");
    });
    it("cannot attach anything to bob's role, nor another policy (AdministratorAccess, bob's deny) to alice's", async () => {
        assert.notEqual(await decide("iam:AttachRolePolicy", role("bob"), { "iam:PolicyARN": deny("alice") }), "Allowed");
        assert.notEqual(await decide("iam:DetachRolePolicy", role("bob"), { "iam:PolicyARN": deny("bob") }), "Allowed", "cannot lift bob's");
        assert.notEqual(await decide("iam:AttachRolePolicy", role("alice"), { "iam:PolicyARN": `arn:${P}:iam::aws:policy/AdministratorAccess` }), "Allowed");
        assert.notEqual(await decide("iam:PutRolePolicy", role("alice")), "Allowed");
    });
    it("stops alice's workstation through Systems Manager only; never bob's, never directly, never terminates", async () => {
        assert.equal(await decide("ec2:StopInstances", instance("alice"), ssm), "Allowed");
        assert.notEqual(await decide("ec2:StopInstances", instance("bob"), ssm), "Allowed");
        assert.notEqual(await decide("ec2:StopInstances", instance("alice")), "Allowed", "only when called via SSM");
        assert.notEqual(await decide("ec2:StartInstances", instance("bob"), ssm), "Allowed");
        assert.notEqual(await decide("ec2:TerminateInstances", instance("alice"), ssm), "Allowed");
    });
    it("starts the AWS-StopEC2Instance runbook only", async () => {
        assert.equal(await decide("ssm:StartAutomationExecution", `arn:${P}:ssm:${REGION}:${ACCOUNT}:automation-definition/AWS-StopEC2Instance:$DEFAULT`), "Allowed");
        assert.notEqual(await decide("ssm:StartAutomationExecution", `arn:${P}:ssm:${REGION}:${ACCOUNT}:automation-definition/AWS-RunShellScript:$DEFAULT`), "Allowed");
        assert.notEqual(await decide("ssm:SendCommand", instance("alice")), "Allowed");
    });
});
