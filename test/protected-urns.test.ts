/**
 * Protected resources hold data (keys, buckets, workspaces, homes, backups, the user pool). Their URNs
 * must not change by accident: a new URN is a new resource, and Pulumi refuses to delete the protected
 * old one (or, unprotected, deletes the data). test/fixtures/protected-urns.json records them per stack;
 * when a change is deliberate, add `aliases` for the old URN and regenerate with
 * `ARCHAEO_WRITE_FIXTURES=1 npx mocha test/protected-urns.test.ts`.
 */
import { strict as assert } from "assert";
import * as fs from "fs";
import * as path from "path";
import { listStacks } from "../tools/stacks";
import { runStack } from "./helpers/program";

const FIXTURE = path.join(__dirname, "fixtures", "protected-urns.json");

describe("protected URNs stay stable per stack", () => {
    const recorded: Record<string, string[]> = fs.existsSync(FIXTURE) ? JSON.parse(fs.readFileSync(FIXTURE, "utf8")) : {};
    const current: Record<string, string[]> = {};
    after(() => {
        if (process.env.ARCHAEO_WRITE_FIXTURES === "1") fs.writeFileSync(FIXTURE, JSON.stringify(current, null, 2) + "\n");
    });
    for (const stack of listStacks()) {
        it(stack, async () => {
            const run = await runStack(stack);
            current[stack] = run.resources.filter((r) => r.protect).map((r) => r.urn).sort();
            assert.ok(current[stack].length >= 4, `${stack}: ${current[stack].length} protected resources`);
            if (process.env.ARCHAEO_WRITE_FIXTURES === "1") return;
            assert.deepEqual(current[stack], recorded[stack], `${stack}: a protected resource's URN changed; add an alias for the old URN, or regenerate the fixture if no stack has deployed it`);
        });
    }
});
