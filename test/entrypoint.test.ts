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

describe("infra/index.ts, the Pulumi entry point", function () {
    // Child processes that load the whole program: about 4 s each when idle.
    this.timeout(120_000);
    it("reads engine-style config (strings, JSON lists and objects) and exports the documented outputs", () => {
        const r = runEntrypoint("uni-archaeology", engineConfig("uni-archaeology"));
        assert.equal(r.ok, true, r.error);
        assert.ok(r.cloudResources > 60, `${r.cloudResources}`);
        for (const k of ["mode", "researchers", "jupyterTokens", "imageUri", "bucketName", "kmsKeyArn", "keyPolicy", "auditBucketName", "auditTrailArn", "estimatedCost"]) {
            assert.ok(k in r.outputs, `output ${k} missing`);
        }
        assert.deepEqual(Object.keys(r.outputs.researchers).sort(), ["phd-sherds", "phd-tiles", "pi"]);
        assert.match(r.outputs.researchers.pi.connect.ssh, /AWS-StartSSHSession/);
        assert.ok(r.outputs.estimatedCost.perResearcher.pi.runningPerHour > 1);
    });

    it("bad config fails before anything is registered, naming every wrong key", () => {
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

    it("a misspelt project prefix in the engine's config is reported, not dropped (the program passes every namespace to the config check)", () => {
        // Mutation: infra/index.ts filtering to `archaeo-workbench:` keys again loses the key silently and plans.
        const r = runEntrypoint("example", engineConfig("example", (c) => {
            c["archeo-workbench:autoStopIdleMinutes"] = "30";
            c["aws:profile"] = "museum"; // another package's namespace stays someone else's
        }));
        assert.equal(r.ok, false);
        assert.equal(r.resources, 0, "nothing may be registered");
        assert.match(r.error, /archeo-workbench:autoStopIdleMinutes.*archaeo-workbench:autoStopIdleMinutes/);
        assert.doesNotMatch(r.error, /aws:profile/);
    });

    it("a key or researcher of another account fails after the caller identity and before any cloud resource", () => {
        const r = runEntrypoint("example", engineConfig("example", (c) => {
            c["archaeo-workbench:kmsKeyArn"] = "arn:aws:kms:us-east-1:999999999999:key/1234abcd-12ab-34cd-56ef-1234567890ab";
        }));
        assert.equal(r.ok, false);
        assert.equal(r.cloudResources, 0, "only the provider may exist");
        assert.match(r.error, /kmsKeyArn: the key is in account 999999999999 but the stack deploys to 123456789012/);
    });
});
