/**
 * The offline plan's manifest: a canonical, deterministic JSON description of what a stack would
 * register (sorted keys, sorted resources, secrets redacted), and a property-level diff between two
 * manifests in the spirit of `pulumi preview --diff`.
 */
import type { RecordedResource } from "./mock-engine";
import type { Violation } from "./policy-runner";
import { replacementDecision } from "./replacements";
import { decodeBase64UserData } from "../policies/lib/userdata";

export const REDACTED = "[secret]";

export interface ManifestResource {
    urn: string;
    type: string;
    name: string;
    parent: string;
    provider: string;
    custom: boolean;
    options: { protect: boolean; retainOnDelete: boolean; deleteBeforeReplace: boolean; ignoreChanges: string[] };
    inputs: Record<string, unknown>;
}

export interface Manifest {
    format: "archaeo-plan/v1";
    project: string;
    stack: string;
    config: unknown;
    resources: ManifestResource[];
    outputs: Record<string, unknown>;
    policies: { mandatory: number; advisory: number; violations: Violation[] };
    cost: unknown;
}

/** Recursively sorts object keys so JSON.stringify is canonical. */
export function canonical<T>(v: T): T {
    if (Array.isArray(v)) return v.map(canonical) as unknown as T;
    if (v && typeof v === "object") {
        const out: Record<string, unknown> = {};
        for (const k of Object.keys(v as object).sort()) {
            const x = (v as Record<string, unknown>)[k];
            if (x !== undefined) out[k] = canonical(x);
        }
        return out as T;
    }
    return v;
}

const urnTail = (urn: string) => urn.split("::").slice(-2).join("::");

export function manifestResources(resources: readonly RecordedResource[]): ManifestResource[] {
    return resources
        .map((r) => ({
            urn: r.urn,
            type: r.type,
            name: r.name,
            parent: r.parent ? urnTail(r.parent) : "",
            provider: r.provider ? urnTail(r.provider.split("::").slice(0, -1).join("::")) : "",
            custom: r.custom,
            options: { protect: r.protect, retainOnDelete: r.retainOnDelete, deleteBeforeReplace: r.deleteBeforeReplace, ignoreChanges: [...r.ignoreChanges].sort() },
            inputs: Object.fromEntries(Object.entries(r.inputs).map(([k, v]) => [k, r.secretInputs.includes(k) ? REDACTED : v])),
        }))
        .sort((a, b) => (a.urn < b.urn ? -1 : a.urn > b.urn ? 1 : 0));
}

export function serializeManifest(m: Manifest): string {
    return JSON.stringify(canonical(m), null, 2) + "\n";
}

export interface PropertyChange { path: string; before: unknown; after: unknown }
export interface ResourceDiff {
    added: ManifestResource[];
    removed: ManifestResource[];
    changed: Array<{ urn: string; type: string; name: string; changes: PropertyChange[]; replaceBecause: string[]; protect: boolean; retainOnDelete: boolean }>;
    unchanged: number;
}

/** Flattens nested values to dotted paths ("rootBlockDevice.volumeSize", "rules[0].selection"). */
function flatten(v: unknown, prefix: string, out: Map<string, unknown>): Map<string, unknown> {
    if (Array.isArray(v)) {
        if (v.length === 0) out.set(prefix, []);
        v.forEach((x, i) => flatten(x, `${prefix}[${i}]`, out));
    } else if (v && typeof v === "object") {
        const keys = Object.keys(v as object);
        if (keys.length === 0) out.set(prefix, {});
        for (const k of keys) flatten((v as Record<string, unknown>)[k], prefix ? `${prefix}.${k}` : k, out);
    } else {
        out.set(prefix, v);
    }
    return out;
}

export function diffManifests(before: Manifest, after: Manifest): ResourceDiff {
    const old = new Map(before.resources.map((r) => [r.urn, r]));
    const now = new Map(after.resources.map((r) => [r.urn, r]));
    const diff: ResourceDiff = { added: [], removed: [], changed: [], unchanged: 0 };
    for (const [urn, r] of now) if (!old.has(urn)) diff.added.push(r);
    for (const [urn, r] of old) if (!now.has(urn)) diff.removed.push(r);
    for (const [urn, r] of now) {
        const o = old.get(urn);
        if (!o) continue;
        const a = flatten({ inputs: o.inputs, options: o.options, provider: o.provider, parent: o.parent }, "", new Map());
        const b = flatten({ inputs: r.inputs, options: r.options, provider: r.provider, parent: r.parent }, "", new Map());
        const changes: PropertyChange[] = [];
        for (const p of [...new Set([...a.keys(), ...b.keys()])].sort()) {
            if (JSON.stringify(a.get(p)) !== JSON.stringify(b.get(p))) changes.push({ path: p.replace(/^inputs\./, ""), before: a.get(p), after: b.get(p) });
        }
        if (changes.length) {
            // Conditional rules (ForceNewIf...) see each change's before and after; one with no evaluator counts as a replacement.
            const decision = replacementDecision(r.type, changes, r.inputs, o.inputs);
            const replaceBecause = [...new Set([...decision.replace, ...decision.undecided.map((u) => u.path)])];
            diff.changed.push({ urn, type: r.type, name: r.name, changes, replaceBecause, protect: r.options.protect, retainOnDelete: r.options.retainOnDelete });
        }
        else diff.unchanged++;
    }
    return diff;
}

function show(v: unknown): string {
    if (v === undefined) return "(unset)";
    const s = JSON.stringify(v);
    return s.length > 100 ? `${s.slice(0, 97)}...` : s;
}

/** User data passed as base64 (gzip or not, as cloud-init reads it) is shown as the script it carries. */
function readable(ch: PropertyChange): PropertyChange {
    if (!/(^|\.)userDataBase64$/.test(ch.path) || typeof ch.before !== "string" || typeof ch.after !== "string") return ch;
    const b = decodeBase64UserData(ch.before);
    const a = decodeBase64UserData(ch.after);
    return "text" in b && "text" in a ? { ...ch, before: b.text, after: a.text } : ch;
}

/** Renders a diff like `pulumi preview --diff`: + create, - delete, ~ update, +- replace, with property changes. */
export function renderDiff(d: ResourceDiff): string {
    const lines: string[] = [];
    for (const r of d.added) lines.push(`  + ${r.type}  ${r.name}`);
    for (const r of d.removed) lines.push(`  - ${r.type}  ${r.name}`);
    for (const c of d.changed) {
        const replace = c.replaceBecause.length > 0;
        lines.push(`  ${replace ? "+-" : "~"} ${c.type}  ${c.name}${replace ? `  (replace: ${c.replaceBecause.join(", ")})` : ""}`);
        const restore = c.changes.find((ch) => ch.path === "snapshotId" && typeof ch.after === "string");
        if (replace && c.protect && restore && c.retainOnDelete) {
            // A restore (restoreFromSnapshot): the engine refuses to replace what is protected in state and in the program
            // (pulumi/pulumi pkg/resource/deploy/step_generator.go: `new.Protect && old.Protect`), so the runbook unprotects it once.
            lines.push(`      ! ${c.name} is protected: Pulumi will refuse this replacement until \`pulumi state unprotect '${c.urn}'\`. ` +
                `A restore: the new volume comes from ${restore.after}; the old one stays in AWS with its data (retainOnDelete). See docs/runbooks.md.`);
        } else if (replace && c.protect) lines.push(`      ! ${c.name} is protected: Pulumi will refuse this replacement; it would destroy data. Revert the change or migrate the data first.`);
        for (const ch0 of c.changes) {
            const ch = readable(ch0);
            if (typeof ch.before === "string" && typeof ch.after === "string" && (ch.before.includes("\n") || ch.after.includes("\n"))) {
                const b = ch.before.split("\n");
                const a = ch.after.split("\n");
                const removed = b.filter((l) => !a.includes(l));
                const added = a.filter((l) => !b.includes(l));
                lines.push(`      ~ ${ch.path}${ch === ch0 ? "" : " (decoded)"}: ${removed.length} line(s) removed, ${added.length} added`);
                for (const l of removed.slice(0, 10)) lines.push(`          - ${l.trim()}`);
                for (const l of added.slice(0, 10)) lines.push(`          + ${l.trim()}`);
            } else {
                lines.push(`      ~ ${ch.path}: ${show(ch.before)} => ${show(ch.after)}`);
            }
        }
    }
    const replaced = d.changed.filter((c) => c.replaceBecause.length).length;
    lines.push(`  ${d.added.length} to create, ${d.removed.length} to delete, ${d.changed.length - replaced} to update, ${replaced} to replace, ${d.unchanged} unchanged`);
    return lines.join("\n");
}
