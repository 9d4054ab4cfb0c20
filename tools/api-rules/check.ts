/**
 * The values the program sends, checked against the rules of the API that receives them: AWS's service
 * models (through the generated table), the rules AWS states in its model documentation, the provider's
 * own validation and autonaming (bindings.ts), and Kubernetes' name and label syntax (kubernetes.ts).
 *
 * Pure: takes what the mock engine recorded, returns findings. `npm run plan` exits 1 on any; the tests run
 * it over every stack and long-name variants of them.
 */
import type { RecordedResource } from "../mock-engine";
import { UNKNOWN_VALUE } from "../mock-engine";
import { Constraint, RuleSource, TYPE_RULES } from "./bindings";
import { loadTable, ModelConstraint, RulesTable } from "./generate";
import { kubernetesValues } from "./kubernetes";

export interface ApiRuleFinding {
    readonly urn: string;
    readonly type: string;
    readonly name: string;
    /** Concrete input path, e.g. `rules[0].ruleName` or `tags{key:Name}`. */
    readonly property: string;
    readonly value: string;
    /** What the value breaks, e.g. "longer than 50 characters (52)". */
    readonly rule: string;
    /** Where the rule comes from: a model member, a documentation quote, a provider file. */
    readonly source: string;
}

export interface ApiRuleReport {
    readonly findings: readonly ApiRuleFinding[];
    /** Values checked (known values only). */
    readonly checked: number;
    /** Values unknown at a first preview (computed by AWS or another resource): the plan without --preview checks them. */
    readonly deferred: number;
    /** Resource types the program registered that no binding covers (a finding each, too). */
    readonly unboundTypes: readonly string[];
}

/** A value found at a concrete path (a map key's path reads `{key:<the key>}`). */
export interface Located {
    readonly path: string;
    readonly value: unknown;
}

/** Every value at `pattern` in `obj` (see bindings.ts for the path syntax). */
export function valuesAt(obj: unknown, pattern: string): Located[] {
    const tokens = pattern.split(".").flatMap((t) => {
        const m = /^([^[{]*)((?:\[\]|\{\}|\{key\})*)$/.exec(t);
        if (!m) throw new Error(`bad binding path ${pattern}`);
        return [...(m[1] ? [m[1]] : []), ...(m[2].match(/\[\]|\{\}|\{key\}/g) ?? [])];
    });
    let cur: Located[] = [{ path: "", value: obj }];
    for (const tok of tokens) {
        const next: Located[] = [];
        for (const { path, value } of cur) {
            if (value === undefined || value === null) continue;
            if (tok === "[]") {
                if (Array.isArray(value)) value.forEach((v, i) => next.push({ path: `${path}[${i}]`, value: v }));
                else next.push({ path, value });
            } else if (tok === "{}" || tok === "{key}") {
                if (value && typeof value === "object" && !Array.isArray(value)) {
                    for (const [k, v] of Object.entries(value)) next.push(tok === "{}" ? { path: `${path}.${k}`, value: v } : { path: `${path}{key:${k}}`, value: k });
                }
            } else if (value && typeof value === "object" && !Array.isArray(value) && tok in value) {
                next.push({ path: path ? `${path}.${tok}` : tok, value: (value as Record<string, unknown>)[tok] });
            }
        }
        cur = next;
    }
    return cur;
}

/** The most tags one resource may carry (the Resource Groups Tagging API's Tags map: max 50). */
export const TAG_COUNT_MEMBER = "resourcegroupstaggingapi:TagResources:Tags";

const regexCache = new Map<string, RegExp>();
const escapeRe = (x: string) => x.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** Java's `\s` (ASCII whitespace only; JavaScript's `\s` is Unicode-wide, so a no-break space would pass). */
const JAVA_SPACE = " \\t\\n\\x0B\\f\\r";
/** The spaces JavaScript's `\s` matches beyond Java's: Java's `\S` matches them. */
const JS_ONLY_SPACE = "\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000\\ufeff";

/**
 * Java's `\s` (ASCII) and `\S` (its complement, Unicode spaces included) inside and outside classes.
 */
function javaSpaces(src: string): string {
    let out = "";
    let inClass = false;
    for (let i = 0; i < src.length; i++) {
        const c = src[i];
        if (c === "\\") {
            const n = src[i + 1] ?? "";
            i++;
            if (n === "s") out += inClass ? JAVA_SPACE : `[${JAVA_SPACE}]`;
            else if (n === "S") out += inClass ? `\\S${JS_ONLY_SPACE}` : `[^${JAVA_SPACE}]`;
            else out += c + n;
            continue;
        }
        if (c === "[" && !inClass) inClass = true;
        else if (c === "]" && inClass) inClass = false;
        out += c;
    }
    return out;
}

/**
 * `src` from `from` on with every ASCII letter outside a character class matched in either case, up to the
 * end of the group `(?i)` stands in (Java's inline flag, which Node 20's RegExp lacks). A class after it
 * is refused (not needed by any table pattern; the test compiling every pattern would say so).
 */
function caseInsensitiveFrom(src: string, from: number): string {
    let out = src.slice(0, from);
    let depth = 0;
    for (let i = from; i < src.length; i++) {
        const c = src[i];
        if (c === "\\") { out += c + (src[i + 1] ?? ""); i++; continue; }
        if (depth === 0 && c === ")") { out += src.slice(i); return out; }
        if (c === "(") depth++;
        else if (c === ")") depth--;
        if (c === "[") throw new Error(`(?i) before a character class is not translated: ${src}`);
        out += /[A-Za-z]/.test(c) ? `[${c.toLowerCase()}${c.toUpperCase()}]` : c;
    }
    return out;
}

/**
 * A model pattern (Java regex syntax, as AWS validates it) as a whole-value JavaScript RegExp with the
 * same meaning: Java's `\p{all}` becomes `[\s\S]`, its ASCII `\s`/`\S` stay ASCII, an inline `(?i)`
 * applies to the rest of its group only, `(?s)` becomes the dotAll flag, a quantified lookaround
 * loses its quantifier (Java reads `(?!\.)+` as the lookaround once), and escapes JavaScript's `u` mode
 * refuses (`\_`) lose their backslash.
 */
export function javaPattern(pattern: string): RegExp {
    let re = regexCache.get(pattern);
    if (re) return re;
    let flags = "u";
    let src = pattern.replace(/\(\?s\)/g, () => { if (!flags.includes("s")) flags += "s"; return ""; });
    src = src.replace(/\[([^\]]*?)\\p\{all\}([^\]]*?)\]/g, "[$1\\s\\S$2]").replace(/\\p\{all\}/g, "[\\s\\S]");
    src = src.replace(/\\([^A-Za-z0-9])/g, (m, c: string) => ("^$\\.*+?()[]{}|/-".includes(c) ? m : c));
    // Java accepts a quantifier on a lookaround (`(?!\.)+`, EFS paths); it means the lookaround once.
    src = src.replace(/(\(\?<?[!=][^()]*\))[+*?]/g, "$1");
    src = javaSpaces(src);
    for (let at = src.indexOf("(?i)"); at >= 0; at = src.indexOf("(?i)")) src = caseInsensitiveFrom(src.slice(0, at) + src.slice(at + 4), at);
    re = new RegExp(`^(?:${src})$`, flags);
    regexCache.set(pattern, re);
    return re;
}

const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

/** Why `value` breaks `c`, or undefined. Strings are measured in characters (code points), as AWS counts them. */
export function violation(value: unknown, c: Constraint | ModelConstraint, isList = false): string | undefined {
    if (isList || Array.isArray(value)) {
        const n = Array.isArray(value) ? value.length : 1;
        if (c.min !== undefined && n < c.min) return `fewer than ${c.min} item(s) (${n})`;
        if (c.max !== undefined && n > c.max) return `more than ${c.max} item(s) (${n})`;
        return undefined;
    }
    if (typeof value === "number" || typeof value === "boolean") {
        if (typeof value === "number") {
            if ("enum" in c && c.enum && c.enum.some((e) => typeof e === "number") && !(c.enum as readonly (string | number)[]).includes(value)) return `not one of ${c.enum.join(", ")}`;
            if (c.min !== undefined && value < c.min) return `below the minimum ${c.min}`;
            if (c.max !== undefined && value > c.max) return `above the maximum ${c.max}`;
        }
        return undefined;
    }
    if (typeof value !== "string") return undefined;
    const len = [...value].length;
    if (c.min !== undefined && len < c.min) return `shorter than ${c.min} character(s) (${len})`;
    if (c.max !== undefined && len > c.max) return `longer than ${c.max} characters (${len})`;
    if (c.enum && !c.enum.map(String).includes(value)) return `not one of ${c.enum.slice(0, 12).join(", ")}${c.enum.length > 12 ? `, … (${c.enum.length} values)` : ""}`;
    if (c.pattern && !javaPattern(c.pattern).test(value)) return `does not match the pattern ${c.pattern}`;
    const k = c as Constraint;
    for (const p of k.notPrefix ?? []) if (value.toLowerCase().startsWith(p.toLowerCase())) return `starts with the reserved prefix '${p}'`;
    for (const s of k.notSuffix ?? []) if (value.endsWith(s)) return `ends with the reserved suffix '${s}'`;
    for (const w of k.notContaining ?? []) if (value.toLowerCase().includes(w)) return `contains the reserved word '${w}'`;
    if (k.notIpAddress && IPV4.test(value)) return "is in IP address form";
    if (k.noAdjacentPeriods && value.includes("..")) return "has two adjacent periods";
    return undefined;
}

function sourceText(r: RuleSource, table: RulesTable): string {
    if ("model" in r) return `AWS service model ${r.model} (botocore ${table.botocore})`;
    if ("doc" in r) return `AWS service model documentation of ${r.doc} (botocore ${table.botocore}): "${r.quote}"`;
    if ("page" in r) return `${r.page}: "${r.quote}"`;
    if ("partitions" in r) return `botocore ${table.botocore} data/partitions.json (${table.regions.length} regions)${r.partitions === "zone" ? "; a zone is <region><letter> or a Local Zone <region>-<zone>-<n><letter> (EC2 DescribeAvailabilityZones)" : ""}`;
    return r.provider;
}

function constraintOf(r: RuleSource, table: RulesTable): ModelConstraint | Constraint {
    if ("model" in r) {
        const c = table.members[r.model];
        if (!c) throw new Error(`aws-api-rules.json has no ${r.model}: run npm run gen:api-rules`);
        return c;
    }
    if ("partitions" in r) {
        if (r.partitions === "region") return { enum: table.regions };
        return { pattern: `(?:${table.regions.map(escapeRe).join("|")})(?:[a-z]|-[a-z]+-[0-9][a-z])` };
    }
    return r.rule;
}

const DEFAULT_AUTONAME_SOURCE = "pulumi-aws provider/resources.go SetAutonaming(255, \"-\"): every resource's optional name";

/** Pulumi's autoname for a logical name: `<name>-<7 hex>` (tfbridge NewUniqueHex; random in real runs). */
export function autonameOf(logicalName: string): string {
    return `${logicalName}-0a1b2c3`;
}

function containsUnknown(v: unknown): boolean {
    if (v === UNKNOWN_VALUE) return true;
    if (Array.isArray(v)) return v.some(containsUnknown);
    if (v && typeof v === "object") return Object.values(v).some(containsUnknown);
    return false;
}

function parseJsonInput(type: string, inputs: Record<string, any>): Record<string, any> {
    // The AWS provider's config arrives as JSON strings (defaultTags), as the engine hands it to the provider.
    if (type === "pulumi:providers:aws" && typeof inputs.defaultTags === "string") {
        try { return { ...inputs, defaultTags: JSON.parse(inputs.defaultTags) }; } catch { return inputs; }
    }
    return inputs;
}

/** Checks every custom resource. `table` defaults to the committed generated table. */
export function checkApiRules(resources: readonly RecordedResource[], table: RulesTable = loadTable()): ApiRuleReport {
    const findings: ApiRuleFinding[] = [];
    const unbound = new Set<string>();
    let checked = 0;
    let deferred = 0;
    const add = (r: RecordedResource, property: string, value: unknown, rule: string, source: string) =>
        findings.push({ urn: r.urn, type: r.type, name: r.name, property, value: typeof value === "string" ? value : JSON.stringify(value), rule, source });

    // Tags per resource: the provider's default tags merged with the resource's own, at most AWS's 50.
    const defaultTagsOf = new Map<string, Record<string, unknown>>();
    for (const r of resources) {
        if (r.type !== "pulumi:providers:aws") continue;
        const dt = parseJsonInput(r.type, r.inputs).defaultTags?.tags;
        if (dt && typeof dt === "object") defaultTagsOf.set(`${r.urn}::${r.id}`, dt as Record<string, unknown>);
    }
    const tagLimit = table.members[TAG_COUNT_MEMBER];

    for (const r of resources) {
        if (!r.custom) continue;
        if (r.type.startsWith("kubernetes:")) {
            for (const v of kubernetesValues(r)) {
                if (containsUnknown(v.value)) { deferred++; continue; }
                checked++;
                const why = violation(v.value, v.rule);
                if (why) add(r, v.path, v.value, why, v.source);
            }
            continue;
        }
        const rules = TYPE_RULES[r.type];
        if (!rules) {
            unbound.add(r.type);
            add(r, "(type)", r.type, "no API rules are bound for this resource type: add it to tools/api-rules/bindings.ts", "tools/api-rules/bindings.ts");
            continue;
        }
        const inputs = parseJsonInput(r.type, r.inputs);
        // pulumi-aws autonames every resource's `name` it leaves to the program (SetAutonaming(255, "-")), unless a
        // type says otherwise: a `name` the program drops is checked as the name Pulumi would make.
        const autoname = rules.autoname ?? (rules.bindings.some((b) => b.prop === "name") ? { prop: "name", maxLength: 255, source: DEFAULT_AUTONAME_SOURCE } : undefined);
        const autonamed = autoname && inputs[autoname.prop] === undefined ? autoname : undefined;
        const withAutoname = autonamed ? { ...inputs, [autonamed.prop]: autonameOf(r.name) } : inputs;
        if (autonamed) {
            const generated = autonameOf(r.name);
            checked++;
            if (generated.length > autonamed.maxLength) add(r, `${autonamed.prop} (autonamed)`, generated, `Pulumi's generated name is longer than the provider's ${autonamed.maxLength}`, autonamed.source);
        }
        if (tagLimit && rules.bindings.some((b) => b.prop === "tags{key}")) {
            const own = inputs.tags && typeof inputs.tags === "object" && !containsUnknown(inputs.tags) ? Object.keys(inputs.tags) : [];
            const merged = new Set([...Object.keys(defaultTagsOf.get(r.provider) ?? {}), ...own]);
            checked++;
            if (tagLimit.max !== undefined && merged.size > tagLimit.max) add(r, "tags (with the provider's defaultTags)", [...merged].join(","), `more than ${tagLimit.max} tags (${merged.size})`, `AWS service model ${TAG_COUNT_MEMBER} (botocore ${table.botocore})`);
        }
        for (const b of rules.bindings) {
            const isListBinding = b.rules.some((x) => "model" in x && table.members[x.model]?.type === "list");
            for (const loc of valuesAt(withAutoname, b.prop)) {
                if (loc.value === undefined || loc.value === null) continue;
                if (containsUnknown(loc.value)) { deferred++; continue; }
                checked++;
                const suffix = autonamed?.prop === b.prop ? " (autonamed)" : "";
                for (const rule of b.rules) {
                    let why = violation(loc.value, constraintOf(rule, table), isListBinding);
                    if (why && "partitions" in rule) why = rule.partitions === "region" ? "is not a region of any AWS partition" : "is not an availability zone of a region of any AWS partition";
                    if (why) add(r, `${loc.path}${suffix}`, loc.value, why, sourceText(rule, table));
                }
            }
        }
    }
    return { findings, checked, deferred, unboundTypes: [...unbound].sort() };
}

/** Every scalar leaf of a value as a normalised path: list indexes as `[]`, object keys as `.key`. */
export function leafPaths(v: unknown, path = ""): string[] {
    if (Array.isArray(v)) return v.length ? [...new Set(v.flatMap((x) => leafPaths(x, `${path}[]`)))] : [];
    // A key's own dots (kubernetes.io/role/elb) are shown as "·" so they don't read as nesting.
    if (v && typeof v === "object") return Object.entries(v).flatMap(([k, x]) => leafPaths(x, path ? `${path}.${k.replace(/\./g, "·")}` : k.replace(/\./g, "·")));
    return v === undefined || v === null ? [] : [path];
}

function pathRegex(pattern: string, prefix: boolean): RegExp {
    const src = pattern.split(/(\[\]|\{\}|\{key\})/).map((part) => part === "[]" ? "\\[\\]" : part === "{}" || part === "{key}" ? "\\.[^.[]+" : escapeRe(part)).join("");
    return new RegExp(`^${src}${prefix ? "(?:$|[.[])" : "$"}`);
}

/**
 * The leaves of a resource's inputs that no binding checks and no `unchecked` entry explains: each name,
 * description, identifier or enumerated value the program sends must be one or the other. A binding covers
 * its exact path (a trailing `[]` also covers a scalar where the API has a list); an `unchecked` key covers
 * its whole subtree.
 */
export function uncoveredLeaves(r: RecordedResource, table: RulesTable = loadTable()): string[] {
    const rules = TYPE_RULES[r.type];
    if (!rules) return [`(type ${r.type})`];
    const inputs = parseJsonInput(r.type, r.inputs);
    const bound = rules.bindings
        .filter((b) => !b.rules.every((x) => "model" in x && table.members[x.model]?.type === "list"))
        .flatMap((b) => [pathRegex(b.prop, false), ...(b.prop.endsWith("[]") ? [pathRegex(b.prop.slice(0, -2), false)] : [])]);
    const explained = Object.keys(rules.unchecked ?? {}).map((u) => pathRegex(u, true));
    return leafPaths(inputs).filter((l) => !bound.some((re) => re.test(l)) && !explained.some((re) => re.test(l)));
}

/** One line per finding, as `npm run plan` prints them. */
export function renderFinding(f: ApiRuleFinding): string {
    return `${f.type} ${f.name}: ${f.property} = ${JSON.stringify(f.value.length > 120 ? `${f.value.slice(0, 120)}…` : f.value)} ${f.rule}\n      source: ${f.source}`;
}
