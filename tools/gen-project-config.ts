/** Writes Pulumi.yaml's `config:` block from infra/config/schema.ts (npm run gen:config); test/project.test.ts checks it. */
import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import { projectConfigBlock } from "../infra/config";

const file = path.join(__dirname, "..", "Pulumi.yaml");
const text = fs.readFileSync(file, "utf8");
const head = text.slice(0, text.indexOf("\nconfig:") + 1);
const note = "# `researchers` (a list of objects) is not declared here: the project config schema has no object type.\n" +
    "# infra/config/parse.ts validates it; stacks/Pulumi.example.yaml documents its fields.\n";
fs.writeFileSync(file, head + note + YAML.stringify({ config: projectConfigBlock() }, { lineWidth: 0 }));
console.log(`wrote ${path.relative(process.cwd(), file)}`);
