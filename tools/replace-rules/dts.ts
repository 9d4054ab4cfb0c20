/**
 * Reads a Pulumi Node SDK's declaration files (node_modules/@pulumi/<pkg>) for the input properties of a
 * resource and of the nested input types they use, so that a Terraform attribute path can be mapped to
 * the property path the Pulumi program sets ("root_block_device.kms_key_id" -> "rootBlockDevice.kmsKeyId")
 * and the mapping checked against the installed SDK rather than assumed.
 */
import * as fs from "fs";
import * as path from "path";

export interface InputShape {
    /** Property name -> the TypeScript type text of its declaration. */
    readonly props: ReadonlyMap<string, string>;
}

const ROOT = path.join(__dirname, "..", "..", "node_modules", "@pulumi");

/** Property declarations (`name?: type;`) of the first `interface <name> {` block in a text, or undefined. */
function interfaceProps(src: string, name: string): Map<string, string> | undefined {
    const m = new RegExp(`interface ${name} \\{`).exec(src);
    if (!m) return undefined;
    let depth = 0;
    let end = m.index;
    for (let i = m.index; i < src.length; i++) {
        if (src[i] === "{") depth++;
        else if (src[i] === "}" && --depth === 0) { end = i; break; }
    }
    const body = src.slice(m.index + m[0].length, end);
    const props = new Map<string, string>();
    // Top-level declarations only: doc comments and nested braces are stripped first.
    const flat = body.replace(/\/\*\*[\s\S]*?\*\//g, "");
    for (const line of flat.split(";")) {
        const d = /^\s*(?:readonly\s+)?([A-Za-z_$][\w$]*)\??:\s*([\s\S]+)$/.exec(line);
        if (d) props.set(d[1], d[2].trim());
    }
    return props;
}

const inputFiles = new Map<string, string>();
function inputTypes(pkg: string): string {
    let s = inputFiles.get(pkg);
    if (s === undefined) {
        const f = path.join(ROOT, pkg, "types", "input.d.ts");
        s = fs.existsSync(f) ? fs.readFileSync(f, "utf8") : "";
        inputFiles.set(pkg, s);
    }
    return s;
}

/** The `export declare namespace <ns> { ... }` block of a package's types/input.d.ts. */
const namespaces = new Map<string, string>();
function namespaceBlock(pkg: string, ns: string): string {
    const key = `${pkg}/${ns}`;
    let block = namespaces.get(key);
    if (block === undefined) {
        const src = inputTypes(pkg);
        const start = src.indexOf(`export declare namespace ${ns} {`);
        if (start < 0) block = "";
        else {
            let depth = 0;
            let end = src.length;
            for (let i = start; i < src.length; i++) {
                if (src[i] === "{") depth++;
                else if (src[i] === "}" && --depth === 0) { end = i + 1; break; }
            }
            block = src.slice(start, end);
        }
        namespaces.set(key, block);
    }
    return block;
}

/** The input properties of a resource token (`aws:ec2/instance:Instance`): its `<Class>Args` interface. */
export function resourceArgs(token: string): InputShape {
    const [pkg, mod, cls] = /^([^:]+):([^:]+):([^:]+)$/.exec(token)!.slice(1);
    const [dir, file] = mod.includes("/") ? mod.split("/") : ["", mod];
    const candidates = [path.join(ROOT, pkg, dir === "index" ? "" : dir, `${file}.d.ts`), path.join(ROOT, pkg, dir, `${file}.d.ts`)];
    const f = candidates.find((c) => fs.existsSync(c));
    if (!f) throw new Error(`no declaration file for ${token} (looked for ${candidates.join(", ")})`);
    const src = fs.readFileSync(f, "utf8");
    if (!src.includes(`class ${cls} extends`)) throw new Error(`${f} declares no class ${cls}`);
    const props = interfaceProps(src, `${cls}Args`);
    if (!props) throw new Error(`${f} has no interface ${cls}Args`);
    return { props };
}

/** The nested input type a property's type text names (`inputs.ec2.InstanceRootBlockDevice`), if any. */
export function nestedShape(pkg: string, typeText: string): InputShape | undefined {
    const m = /inputs\.([A-Za-z0-9_]+)\.([A-Za-z0-9_]+)/.exec(typeText);
    if (!m) return undefined;
    const props = interfaceProps(namespaceBlock(pkg, m[1]), m[2]);
    return props ? { props } : undefined;
}
