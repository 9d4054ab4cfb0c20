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

describe("the restore tool and the runbooks name what the program registers", () => {
    // tools/restore.ts and docs/runbooks.md compute URNs, tag values and names without running the program:
    // each must be the program's, for every stack (test/runbooks.test.ts holds the runbooks to these helpers).
    const { bucketName } = require("../infra/tags") as typeof import("../infra/tags");
    const { homeNames, jupyterTokenUrn, workspaceVolumeName, workspaceVolumeUrn } = require("../tools/restore") as typeof import("../tools/restore");
    for (const stack of listStacks()) {
        it(stack, async () => {
            const run = await runStack(stack);
            const urns = new Set(run.resources.map((r) => r.urn));
            const named = (type: string, name: string) => run.resources.find((r) => r.type === type && r.name === name);
            const data = run.resources.find((r) => r.type === "aws:s3/bucket:Bucket" && r.name === "archaeo-datasets");
            assert.equal(data?.inputs.bucket, bucketName(run.cfg, "data", "123456789012"), "the dataset bucket (mock account)");
            if (run.cfg.mode === "instance") {
                for (const r of run.cfg.researchers) {
                    assert.ok(urns.has(workspaceVolumeUrn(stack, r.id)), workspaceVolumeUrn(stack, r.id));
                    assert.ok(urns.has(jupyterTokenUrn(stack, r.id)), jupyterTokenUrn(stack, r.id));
                    assert.equal((named("aws:ebs/volume:Volume", `archaeo-ws-${r.id}-workspace`)?.inputs.tags as Record<string, string>).Name, workspaceVolumeName(run.cfg, r.id));
                    assert.equal(named("aws:ebs/volume:Volume", `archaeo-ws-${r.id}-workspace`)?.inputs.snapshotId, r.restoreFromSnapshot, "restoreFromSnapshot is the volume's snapshotId");
                }
            } else {
                const n = homeNames(run.cfg);
                assert.equal((named("aws:efs/fileSystem:FileSystem", "archaeo-storage-efs")?.inputs.tags as Record<string, string>).Name, n.fileSystemName);
                assert.equal(named("aws:backup/vault:Vault", "archaeo-storage-vault")?.inputs.name, n.vault);
                assert.equal(named("aws:iam/role:Role", "archaeo-storage-backup-role")?.inputs.name, n.backupRole);
            }
        });
    }
});
