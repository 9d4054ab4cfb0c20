/**
 * npm run gen:regions [-- --from-aws [--families g4dn,g5,g6,g6e]]: refreshes infra/data/regions.json.
 * Always: the region list from the committed API-rules table (botocore's partitions.json). With --from-aws
 * and credentials: for each enabled region, which GPU families it offers, read with
 * `aws ec2 describe-instance-type-offerings --location-type region`.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";

export const USAGE = `usage: npm run gen:regions [-- --from-aws [--families g4dn,g5,g6,g6e]]

Refreshes infra/data/regions.json, the table stack config checks aws:region, backupCopyRegion and the GPU
families against. Always copies the region list from tools/api-rules/aws-api-rules.json (botocore's
partitions.json; npm run gen:api-rules refreshes that). With --from-aws it also asks AWS, with your
credentials, which families each enabled region offers:
  aws ec2 describe-regions, then per region
  aws ec2 describe-instance-type-offerings --location-type region --filters Name=instance-type,Values=<family>.*
printing each region as it goes.

  --from-aws          query AWS (needs the AWS CLI and credentials); otherwise offerings are kept as recorded
  --families LIST     families to probe (default: every family in infra/data/gpus.ts)
  --help, -h          this text`;

const ROOT = path.join(__dirname, "..");
const FILE = path.join(ROOT, "infra", "data", "regions.json");

function aws(args: string[]): unknown {
    const r = spawnSync("aws", [...args, "--output", "json"], { encoding: "utf8", timeout: 60_000 });
    if (r.status !== 0) throw new Error(`aws ${args.join(" ")}: ${r.error?.message ?? r.stderr.trim()}`);
    return JSON.parse(r.stdout);
}

function main(argv: string[]): number {
    if (argv.includes("--help") || argv.includes("-h")) { console.log(USAGE); return 0; }
    const table = JSON.parse(fs.readFileSync(FILE, "utf8"));
    const rules = JSON.parse(fs.readFileSync(path.join(ROOT, "tools", "api-rules", "aws-api-rules.json"), "utf8"));
    table.regions = rules.regions;
    table.source.regions = `botocore ${rules.botocore} data/partitions.json, as in tools/api-rules/aws-api-rules.json (npm run gen:api-rules); npm run gen:regions copies it here`;
    if (argv.includes("--from-aws")) {
        const { GPU_INSTANCE_TYPES } = require("../infra/data/gpus") as typeof import("../infra/data/gpus");
        const i = argv.indexOf("--families");
        const families = i >= 0 ? argv[i + 1].split(",") : [...new Set(Object.values(GPU_INSTANCE_TYPES).map((g) => g.family))];
        const regions = (aws(["ec2", "describe-regions", "--region", "us-east-1", "--query", "Regions[].RegionName"]) as string[]).sort();
        const offerings: Record<string, { probed: string[]; offered: string[] }> = {};
        for (const f of families) offerings[f] = { probed: regions, offered: [] };
        regions.forEach((region, n) => {
            const types = aws(["ec2", "describe-instance-type-offerings", "--region", region, "--location-type", "region",
                "--filters", `Name=instance-type,Values=${families.map((f) => `${f}.*`).join(",")}`, "--query", "InstanceTypeOfferings[].InstanceType"]) as string[];
            const found = families.filter((f) => types.some((t) => t.startsWith(`${f}.`)));
            for (const f of found) offerings[f].offered.push(region);
            process.stderr.write(`gen:regions: [${n + 1}/${regions.length}] ${region}: ${found.join(", ") || "none"}\n`);
        });
        table.gpuOfferings = { ...table.gpuOfferings, ...offerings };
        table.source.gpuOfferings = `aws ec2 describe-instance-type-offerings --location-type region over the regions enabled for the account that ran npm run gen:regions -- --from-aws on ${new Date().toISOString().slice(0, 10)}`;
    }
    fs.writeFileSync(FILE, `${JSON.stringify(table, null, 1)}\n`);
    console.log(`wrote ${path.relative(process.cwd(), FILE)}`);
    return 0;
}

if (require.main === module) {
    try { process.exitCode = main(process.argv.slice(2)); } catch (e) { console.error(`gen:regions: ${(e as Error).message}`); process.exitCode = 1; }
}
