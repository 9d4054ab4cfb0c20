/**
 * `npm run gen:api-rules`: regenerates tools/api-rules/aws-api-rules.json from AWS's service models
 * (botocore's, through tools/api-rules/botocore_rules.py) for exactly the members tools/api-rules/bindings.ts
 * names. `--check` compares instead of writing and exits 1 on any difference (the test does the same).
 */
import * as fs from "fs";
import * as path from "path";
import { spawnSync } from "child_process";
import { docMembers, modelMembers } from "./bindings";

export const TABLE_FILE = path.join(__dirname, "aws-api-rules.json");
const EXTRACTOR = path.join(__dirname, "botocore_rules.py");

export interface ModelConstraint {
    readonly type: string;
    readonly min?: number;
    readonly max?: number;
    readonly pattern?: string;
    readonly enum?: readonly string[];
}

export interface RulesTable {
    readonly source: string;
    readonly botocore: string;
    readonly members: Readonly<Record<string, ModelConstraint>>;
    readonly docs: Readonly<Record<string, string>>;
    /** Every region of every partition (botocore/data/partitions.json), "-global" pseudo-regions left out. */
    readonly regions: readonly string[];
    /** Members the installed botocore lacks (only when read leniently, for a comparison across versions). */
    readonly missing?: readonly string[];
}

/** Pythons to try, in order: ARCHAEO_BOTOCORE_PYTHON, python3 on PATH, Debian's (python3-botocore). */
export function pythonCandidates(): string[] {
    return [process.env.ARCHAEO_BOTOCORE_PYTHON, "python3", "/usr/bin/python3"].filter((p): p is string => !!p);
}

/** The first Python that imports botocore, and its version; undefined when none does. */
export function findBotocore(): { python: string; version: string } | undefined {
    for (const python of pythonCandidates()) {
        const r = spawnSync(python, ["-c", "import botocore; print(botocore.__version__)"], { encoding: "utf8" });
        if (r.status === 0) return { python, version: r.stdout.trim() };
    }
    return undefined;
}

/** Reads the bound members from the installed botocore. Throws naming the members botocore doesn't have. */
export function readModel(python: string, members = modelMembers(), docs = docMembers(), lenient = false): RulesTable {
    const r = spawnSync(python, [EXTRACTOR], { input: JSON.stringify({ members, docs, lenient }), encoding: "utf8", maxBuffer: 64 << 20 });
    if (r.status !== 0) throw new Error(`${EXTRACTOR} failed (${python}):\n${r.stderr || r.error?.message}`);
    const out = JSON.parse(r.stdout) as { botocore: string; members: Record<string, ModelConstraint>; docs: Record<string, string>; regions: string[]; missing?: string[] };
    return {
        source: "AWS service models as published in botocore (botocore/data/<service>/<version>/service-2.json, and data/partitions.json for regions); regenerate with `npm run gen:api-rules`",
        botocore: out.botocore,
        members: out.members,
        docs: out.docs,
        regions: out.regions,
        ...(out.missing?.length ? { missing: out.missing } : {}),
    };
}

export function serializeTable(t: RulesTable): string {
    const sortKeys = (o: Record<string, unknown>) => Object.fromEntries(Object.keys(o).sort().map((k) => [k, o[k]]));
    return `${JSON.stringify({ source: t.source, botocore: t.botocore, regions: t.regions, members: sortKeys(t.members as Record<string, unknown>), docs: sortKeys(t.docs as Record<string, unknown>) }, null, 1)}\n`;
}

let table: RulesTable | undefined;

/** The committed table, read once per process. */
export function loadTable(): RulesTable {
    table ??= JSON.parse(fs.readFileSync(TABLE_FILE, "utf8")) as RulesTable;
    return table;
}

function main(argv: string[]): number {
    if (argv.includes("--help") || argv.includes("-h")) {
        console.log("usage: npm run gen:api-rules [-- --check]\nRegenerates tools/api-rules/aws-api-rules.json from botocore's AWS service models (set ARCHAEO_BOTOCORE_PYTHON to pick the Python).");
        return 0;
    }
    const found = findBotocore();
    if (!found) {
        console.error(`gen:api-rules: no Python with botocore (tried ${pythonCandidates().join(", ")}); install Debian's python3-botocore or set ARCHAEO_BOTOCORE_PYTHON`);
        return 2;
    }
    const text = serializeTable(readModel(found.python));
    if (argv.includes("--check")) {
        const same = fs.existsSync(TABLE_FILE) && fs.readFileSync(TABLE_FILE, "utf8") === text;
        console.log(same ? `aws-api-rules.json matches botocore ${found.version}` : `aws-api-rules.json differs from botocore ${found.version}: run npm run gen:api-rules`);
        return same ? 0 : 1;
    }
    fs.writeFileSync(TABLE_FILE, text);
    console.log(`wrote ${path.relative(process.cwd(), TABLE_FILE)} from botocore ${found.version} (${found.python})`);
    return 0;
}

if (require.main === module) process.exit(main(process.argv.slice(2)));
