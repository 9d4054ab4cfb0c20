import { strict as assert } from "assert";
import { spawnSync } from "child_process";
import * as path from "path";
import { readStack } from "../tools/stacks";

const root = path.join(__dirname, "..");

/** Config as the Pulumi engine hands it to the program: every value a string, lists as JSON. */
function engineConfig(stack: string, edit: (c: Record<string, unknown>) => void = () => undefined): string {
    const s = readStack(stack);
    const c: Record<string, unknown> = { ...s.raw, "aws:region": s.region };
    edit(c);
    return JSON.stringify(Object.fromEntries(Object.entries(c).map(([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v)])));
}

function runEntrypoint(stack: string, config: string) {
    const r = spawnSync(path.join(root, "node_modules", ".bin", "tsx"), ["test/helpers/run-entrypoint.ts"], {
        cwd: root, encoding: "utf8", env: { ...process.env, PULUMI_CONFIG: config, ARCHAEO_STACK: stack },
    });
    const line = r.stdout.trim().split("\n").pop() ?? "";
    assert.ok(line.startsWith("{"), `no result: ${r.stdout}\n${r.stderr}`);
    return JSON.parse(line);
}

describe("infra/index.ts, the Pulumi entry point", () => {
    it("reads engine-style config (strings, JSON lists) and exports the documented outputs", () => {
        const r = runEntrypoint("uni-archaeology", engineConfig("uni-archaeology"));
        assert.equal(r.ok, true, r.error);
        assert.ok(r.resources > 30);
        for (const k of ["instanceId", "connect", "jupyterUrl", "tensorboardUrl", "jupyterToken", "imageUri", "bucketName", "kmsKeyArn", "workstationRoleArn", "smokeResultCommand", "estimatedCost"]) {
            assert.ok(k in r.outputs, `output ${k} missing`);
        }
        assert.match(r.outputs.connect.ssh, /AWS-StartSSHSession/);
        assert.equal(r.outputs.estimatedCost.runningPerHourUsd > 1, true);
    });

    it("bad config fails before any resource is registered, naming every wrong key", () => {
        const r = runEntrypoint("example", engineConfig("example", (c) => {
            c["archaeo-workbench:instanceType"] = "t3.micro";
            c["archaeo-workbench:accessCidrs"] = ["0.0.0.0/0"]; // also wrong in ssm mode: two problems
            c["archaeo-workbench:autoStopIdleMinutes"] = "5";
        }));
        assert.equal(r.ok, false);
        assert.equal(r.resources, 0, "nothing may be registered");
        assert.match(r.error, /Invalid stack config \(4 problems\)/);
        for (const k of ["instanceType", "accessCidrs", "autoStopIdleMinutes"]) assert.match(r.error, new RegExp(`archaeo-workbench:${k}`));
    });
});
