/** Writes Pulumi.yaml's `config:` block from infra/config/schema.ts (npm run gen:config); test/project.test.ts checks it. */
import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";

const NOTE = "# `researchers` (a list of objects) is not declared here: the project config schema has no object type.\n" +
    "# infra/config/parse.ts validates it; stacks/Pulumi.example.yaml documents its fields.\n";

/** Pulumi.yaml with its `config:` block regenerated; the note before it written once however often it runs. */
export function renderProjectYaml(text: string): string {
    // Required here, not imported, so --help does not wait for the config module.
    const { projectConfigBlock } = require("../infra/config") as typeof import("../infra/config");
    const head = text.slice(0, text.indexOf("\nconfig:") + 1).split(NOTE).join("");
    return head + NOTE + YAML.stringify({ config: projectConfigBlock() }, { lineWidth: 0 });
}

export const USAGE = `usage: npm run gen:config

Rewrites the config: block of Pulumi.yaml from infra/config/schema.ts (every key's type, description and
default); the rest of the file is kept. Idempotent: running it twice changes nothing. test/project.test.ts
checks Pulumi.yaml matches.

  --help, -h   this text`;

if (require.main === module && process.argv.slice(2).some((a) => a === "--help" || a === "-h")) console.log(USAGE);
else if (require.main === module) {
    const file = path.join(__dirname, "..", "Pulumi.yaml");
    fs.writeFileSync(file, renderProjectYaml(fs.readFileSync(file, "utf8")));
    console.log(`wrote ${path.relative(process.cwd(), file)}`);
}
