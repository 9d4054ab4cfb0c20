/**
 * The AWS quotas a stack needs (tools/quotas.ts, printed by `npm run plan`, read against the account by
 * `preflight --quotas`), the workstation subnet sized from the researcher count, and launch batches that
 * bound the running G/VT vCPUs of a deploy (issue 22). The quotas over real 10- and 200-researcher stacks
 * are checked in test/scale.test.ts, which already evaluates them.
 */
import { strict as assert } from "assert";
import { spawnSync } from "child_process";
import { ENI_LIMITS, maxPods } from "../infra/data/eni";
import { GPU_INSTANCE_TYPES } from "../infra/data/gpus";
import { usableAddresses } from "../infra/sizing";
import { MAX_RESEARCHERS } from "../infra/config";
import { firstSubnet } from "../infra/instance/network";
import { AwsCli, CountedResource, QUOTAS, QuotaSpec, quotaNeeds, quotaStatus, readAppliedQuotas, renderQuotaTable } from "../tools/quotas";
import { quotaPreflight } from "../tools/preflight";
import { findBotocore } from "../tools/api-rules/generate";
import { stopsRunningWorkstations } from "../tools/plan";
import { parse, problems, researcher } from "./helpers/config";
import { runProgram } from "./helpers/program";
import type { InstanceStackConfig } from "../infra/config";

const people = (n: number) => Array.from({ length: n }, (_, i) => researcher(`r${i}`));

describe("quotas: ENI data, subnet sizing and status", () => {
    it("every GPU type the config accepts has its network limits, which reproduce the VPC CNI's max pods", () => {
        for (const t of Object.keys(GPU_INSTANCE_TYPES)) assert.ok(ENI_LIMITS[t], `${t} missing from infra/data/eni.ts`);
        // amazon-vpc-cni-k8s misc/eni-max-pods.txt (b5218838): the same numbers from the other upstream file.
        const fromCni: Record<string, number> = { "g4dn.xlarge": 29, "g5.xlarge": 58, "g5.12xlarge": 737, "g6.4xlarge": 234, "t4g.large": 35, "t4g.nano": 4, "m7i.large": 29 };
        for (const [t, pods] of Object.entries(fromCni)) assert.equal(maxPods(ENI_LIMITS[t]), pods, t);
    });

    it("the workstation subnet is the VPC's first /24 whatever the researcher count: the cap's 200 workstations fit its 251 addresses", () => {
        // A subnet sized from the count would change CIDR when researchers are added, which replaces the subnet
        // and every workstation (and a larger CIDR overlapping the live one cannot be created first).
        assert.ok(usableAddresses(24) >= MAX_RESEARCHERS, `${usableAddresses(24)} addresses for ${MAX_RESEARCHERS} workstations`);
        assert.equal(usableAddresses(24), 251);
        assert.equal(firstSubnet("10.42.0.0/16"), "10.42.0.0/24");
        assert.equal(firstSubnet("10.42.0.0/24"), "10.42.0.0/24");
        assert.equal(parse({ researchers: people(200), vpcCidr: "10.42.0.0/24" }).vpcCidr, "10.42.0.0/24");
        assert.match(problems({ vpcCidr: "10.42.0.0/25" })["archaeo-workbench:vpcCidr"], /from \/16 to \/24/);
        assert.equal((parse({ researchers: people(200) }) as InstanceStackConfig).launchBatchSize, 8);
    });

    it("status: under 80% ok, from 80% near, above over; against the default of an EC2 vCPU quota, a check instead", () => {
        assert.equal(quotaStatus(39, 50), "ok");
        assert.equal(quotaStatus(40, 50), "near");
        assert.equal(quotaStatus(51, 50), "over");
        assert.equal(quotaStatus(0, 0), "ok");
        assert.equal(quotaStatus(32, 0, true), "check");
        assert.equal(quotaStatus(32, 0, false), "over");
        assert.equal(quotaStatus(3, 5, true), "ok");
        assert.deepEqual((Object.values(QUOTAS) as QuotaSpec[]).filter((q) => q.variesByAccount).map((q) => q.code), ["L-DB2E81BA", "L-3819A6DF", "L-1216C47A"]);
    });
});

/** A stack's registered resources, as the mock engine records them, for the parts quotaNeeds reads. */
const res = (type: string, inputs: Record<string, unknown>): CountedResource => ({ type, custom: true, inputs });

describe("quotas: what a stack needs", () => {
    it("instance mode: a deploy needs one launch batch of G/VT vCPUs, working needs all; gp3 sums workspaces and roots", () => {
        const cfg = parse({ researchers: people(20), launchBatchSize: 8 });
        const resources = [
            ...Array.from({ length: 20 }, (_, i) => res("aws:ec2/instance:Instance", { instanceType: i < 2 ? "g5.4xlarge" : "g5.xlarge", rootBlockDevice: { volumeType: "gp3", volumeSize: 150 } })),
            ...Array.from({ length: 20 }, () => res("aws:ebs/volume:Volume", { type: "gp3", size: 500 })),
            ...Array.from({ length: 40 }, () => res("aws:iam/role:Role", {})),
            res("aws:ec2/vpc:Vpc", {}), res("aws:ec2/subnet:Subnet", { cidrBlock: "10.42.0.0/24" }),
        ];
        const lines = quotaNeeds(cfg, resources);
        const by = (id: string) => lines.find((l) => l.quota.id === id)!;
        // The largest 8 launch together at worst: 2 x 16 + 6 x 4 vCPUs (g5.4xlarge 16, g5.xlarge 4: infra/data/gpus.ts).
        assert.equal(by("gvtOnDemand").need, 2 * 16 + 6 * 4);
        assert.equal(by("gvtOnDemand").peak, 2 * 16 + 18 * 4);
        assert.equal(by("gp3Storage").need, (20 * 650) / 1024);
        assert.equal(by("iamRoles").need, 40);
        assert.deepEqual([by("subnetAddresses").need, by("subnetAddresses").limit], [20, 251]);
        assert.match(by("subnetAddresses").detail, /40 while one `up` replaces them all/);
        assert.equal(by("snapshots").need, 20 * cfg.backup.retentionDays);
        const all = quotaNeeds(parse({ researchers: people(20), launchBatchSize: 0 }), resources);
        assert.equal(all.find((l) => l.quota.id === "gvtOnDemand")!.need, 2 * 16 + 18 * 4, "launchBatchSize 0 launches everyone at once");
    });

    it("the table names each quota's code and source; warnings give the request command with the value to ask for", () => {
        const lines = [
            { quota: QUOTAS.gvtOnDemand, need: 32, limit: 0, peak: 200, detail: "d" },
            { quota: QUOTAS.gp3Storage, need: 45, limit: 50, detail: "d" },
            { quota: QUOTAS.iamRoles, need: 10, limit: 1000, detail: "d" },
        ];
        const { table, warnings } = renderQuotaTable(lines);
        assert.match(table.join("\n"), /\? Running On-Demand G and VT instances \[ec2 L-DB2E81BA\].*needs 32 of 0 vCPUs \(default\)/);
        assert.match(table.join("\n"), /! Storage for General Purpose SSD \(gp3\) volumes, in TiB \[ebs L-7A658B76\]/);
        assert.match(table.join("\n"), /✔ Roles per account \[iam L-FE177D64\]/);
        assert.match(table.join("\n"), /reference_iam-quotas\.html/);
        assert.equal(warnings.length, 2);
        assert.match(warnings[0], /32 vCPUs to deploy and 200 for everyone to work at once.*--quota-code L-DB2E81BA --desired-value 200/);
        assert.match(warnings[1], /gp3.*45 TiB, near the default 50 \(per region: other stacks and workloads there share it\).*--quota-code L-7A658B76/);
        // The account's own values replace the defaults.
        const applied = renderQuotaTable(lines, new Map([["L-DB2E81BA", 256], ["L-7A658B76", 200]]));
        assert.deepEqual(applied.warnings, []);
        assert.match(applied.table.join("\n"), /✔ Running On-Demand G and VT instances.*needs 32 of 256 vCPUs \(this account\)/);
    });
});

describe("quotas: preflight --quotas reads the account's values with the AWS CLI", () => {
    const lines = [
        { quota: QUOTAS.gvtOnDemand, need: 32, limit: 0, peak: 64, detail: "d" },
        { quota: QUOTAS.gp3Storage, need: 10, limit: 50, detail: "d" },
        { quota: QUOTAS.iamRoles, need: 10, limit: 1000, detail: "d" },
    ];
    // Answers shaped as Service Quotas answers (GetServiceQuotaResponse { Quota: ServiceQuota { Value } }; checked against botocore below).
    const answer = (code: string, value: number) => ({ code: 0, stdout: JSON.stringify({ Quota: { ServiceCode: "x", QuotaCode: code, QuotaName: "n", Value: value, Adjustable: true, GlobalQuota: false } }), stderr: "" });
    const calls: string[][] = [];
    const cli = (values: Record<string, number | "none" | "denied">): AwsCli => async (args) => {
        calls.push([...args]);
        const code = args[args.indexOf("--quota-code") + 1];
        const v = values[code];
        if (v === "denied") return { code: 254, stdout: "", stderr: "An error occurred (AccessDeniedException) when calling the GetServiceQuota operation: no" };
        if (v === "none" && args[1] === "get-service-quota") return { code: 254, stdout: "", stderr: "An error occurred (NoSuchResourceException) when calling the GetServiceQuota operation: The request failed because the specified service quota does not exist." };
        return answer(code, v === "none" ? 50 : v);
    };

    it("a need over the account's value fails preflight naming the quota; the default is asked for where none is applied; IAM in us-east-1", async () => {
        calls.length = 0;
        const r = await quotaPreflight("example", lines, "eu-west-2", cli({ "L-DB2E81BA": 16, "L-7A658B76": "none", "L-FE177D64": 1000 }));
        assert.equal(r.ok, false);
        assert.match(r.output, /::error title=AWS quota too low::example: Running On-Demand G and VT instances needs 32, the account has 16/);
        assert.match(r.output, /L-7A658B76: 50 \(the default \(GetAWSDefaultServiceQuota in eu-west-2\)/);
        assert.deepEqual(calls.map((c) => [c[1], c[c.indexOf("--quota-code") + 1], c[c.indexOf("--region") + 1]]), [
            ["get-service-quota", "L-DB2E81BA", "eu-west-2"], ["get-service-quota", "L-7A658B76", "eu-west-2"], ["get-aws-default-service-quota", "L-7A658B76", "eu-west-2"], ["get-service-quota", "L-FE177D64", "us-east-1"],
        ]);
        const fine = await quotaPreflight("example", lines, "eu-west-2", cli({ "L-DB2E81BA": 64, "L-7A658B76": 50, "L-FE177D64": 1000 }));
        assert.equal(fine.ok, true, fine.output);
        assert.doesNotMatch(fine.output, /::warning/);
        // The deploy fits one launch batch (32) but everyone working at once needs 64: a warning naming both.
        const tight = await quotaPreflight("example", lines, "eu-west-2", cli({ "L-DB2E81BA": 40, "L-7A658B76": 50, "L-FE177D64": 1000 }));
        assert.equal(tight.ok, true);
        assert.match(tight.output, /::warning title=AWS quota below everyone working at once::example: Running On-Demand G and VT instances: the deploy fits \(32\), but all workstations running at once need 64 and the account has 40/);
        // IAM is global: asked in its partition's home region.
        calls.length = 0;
        await quotaPreflight("gov", lines, "us-gov-east-1", cli({ "L-DB2E81BA": 64, "L-7A658B76": 50, "L-FE177D64": 1000 }));
        assert.equal(calls.find((c) => c.includes("L-FE177D64"))![calls[0].indexOf("--region") + 1], "us-gov-west-1");
    });

    it("a value it cannot read is reported with the permission to grant, never assumed", async () => {
        const applied = await readAppliedQuotas(lines, "eu-west-2", cli({ "L-DB2E81BA": "denied", "L-7A658B76": 50, "L-FE177D64": 1000 }));
        const gvt = applied.find((a) => a.code === "L-DB2E81BA")!;
        assert.equal(gvt.value, undefined);
        assert.match(gvt.note, /servicequotas:GetServiceQuota/);
    });

    it("the answers and errors used above are those of AWS's Service Quotas model (botocore)", function () {
        const found = findBotocore();
        if (!found) this.skip();
        const py = [
            "import botocore.session, json",
            "m = botocore.session.get_session().get_service_model('service-quotas')",
            "out = {}",
            "for op in ['GetServiceQuota', 'GetAWSDefaultServiceQuota']:",
            "    o = m.operation_model(op)",
            "    out[op] = {'input': sorted(o.input_shape.required_members), 'quota': sorted(o.output_shape.members['Quota'].members), 'errors': sorted(e.name for e in o.error_shapes)}",
            "print(json.dumps(out))",
        ].join("\n");
        const r = spawnSync(found!.python, ["-c", py], { encoding: "utf8" });
        assert.equal(r.status, 0, r.stderr);
        const model = JSON.parse(r.stdout);
        for (const op of ["GetServiceQuota", "GetAWSDefaultServiceQuota"]) {
            assert.deepEqual(model[op].input, ["QuotaCode", "ServiceCode"]);
            for (const f of ["QuotaCode", "Value", "Adjustable", "GlobalQuota"]) assert.ok(model[op].quota.includes(f), `${op} Quota.${f}`);
            assert.ok(model[op].errors.includes("AccessDeniedException"), op);
        }
        assert.ok(model.GetServiceQuota.errors.includes("NoSuchResourceException"));
    });
});

describe("quotas: launch batches (instance mode)", function () {
    this.timeout(120_000);

    it("every workstation is stopped once created and `state` is never diffed again; the k-th waits for the (k - batch)-th", async () => {
        const run = await runProgram(parse({ researchers: people(5), launchBatchSize: 2 }));
        const states = run.resources.filter((r) => r.type === "aws:ec2transitgateway/instanceState:InstanceState");
        assert.equal(states.length, 5);
        for (const s of states) {
            assert.equal(s.inputs.state, "stopped");
            assert.deepEqual(s.ignoreChanges, ["state"]);
        }
        const urnOf = (id: string) => states.find((s) => s.name === `archaeo-ws-${id}-stopped`)!.urn;
        const waitsOn = (id: string) => run.resources.find((r) => r.name === `archaeo-ws-${id}-instance`)!.dependencies.filter((d) => d.includes("InstanceState"));
        assert.deepEqual(waitsOn("r0"), []);
        assert.deepEqual(waitsOn("r1"), []);
        assert.deepEqual(waitsOn("r2"), [urnOf("r0")]);
        assert.deepEqual(waitsOn("r3"), [urnOf("r1")]);
        assert.deepEqual(waitsOn("r4"), [urnOf("r2")]);
        // The stop waits for the workspace attachment (EC2 attaches only to a running or stopped instance).
        for (const id of ["r0", "r4"]) {
            const state = states.find((s) => s.name === `archaeo-ws-${id}-stopped`)!;
            assert.ok(state.dependencies.some((d) => d.endsWith(`archaeo-ws-${id}-workspace-attachment`)), id);
        }
        const all = await runProgram(parse({ researchers: people(3), launchBatchSize: 0 }));
        assert.ok(all.resources.filter((r) => r.type === "aws:ec2/instance:Instance").every((r) => !r.dependencies.some((d) => d.includes("InstanceState"))));
    });
});

describe("quotas: upgrading a deployed stack to launch batches", () => {
    it("the plan's --diff warns for each existing workstation its first `up` would stop, and only for those", () => {
        const r = (type: string, name: string) => ({ urn: `urn:${name}`, type, name, parent: "", provider: "", custom: true, options: {}, inputs: {} });
        const base = { resources: [r("aws:ec2/instance:Instance", "archaeo-ws-alice-instance")] } as any;
        const next = { resources: [
            r("aws:ec2/instance:Instance", "archaeo-ws-alice-instance"), r("aws:ec2transitgateway/instanceState:InstanceState", "archaeo-ws-alice-stopped"),
            r("aws:ec2/instance:Instance", "archaeo-ws-bob-instance"), r("aws:ec2transitgateway/instanceState:InstanceState", "archaeo-ws-bob-stopped"),
        ] } as any;
        const warnings = stopsRunningWorkstations(base, next);
        assert.equal(warnings.length, 1, warnings.join("\n"));
        assert.match(warnings[0], /^archaeo-ws-alice: this `up` stops the existing workstation/);
        assert.deepEqual(stopsRunningWorkstations(next, next), []);
    });
});
