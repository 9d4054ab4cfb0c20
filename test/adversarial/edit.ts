/**
 * Small editors for adversarial cases: each applies one change to a recorded stack the way a change of
 * the program would reach the engine, keeping the four views of a resource consistent (inputs and
 * state, plain and in wire form). The mock engine echoes inputs into state, so an edit of an input is
 * applied to the state too; secret inputs (wire form { <sig>: <marker>, value }) are edited inside
 * their wrapper and stay secret.
 */
import * as zlib from "zlib";
import type { RecordedResource } from "../../tools/mock-engine";
import { MOCK_ACCOUNT_ID } from "../../tools/mock-engine";

export type Rs = RecordedResource[];
type Mutable<T> = { -readonly [K in keyof T]: T[K] };

const SIG = "4dabf18193072939515e22adb298388d";
const SECRET = "1b47061264138c4ac30d75fd1eb44270";
/** The SDK's marker for a serialized asset (runtime/rpc.ts specialAssetSig). */
export const ASSET_SIG = "c44067f5952c0a294b673a41bacd8c17";

const isSecret = (v: any) => !!v && typeof v === "object" && v[SIG] === SECRET;
const deepUnwrap = (v: any): { value: any; secret: boolean } => {
    if (isSecret(v)) return { value: deepUnwrap(v.value).value, secret: true };
    if (Array.isArray(v)) { const xs = v.map(deepUnwrap); return { value: xs.map((x) => x.value), secret: xs.some((x) => x.secret) }; }
    if (v && typeof v === "object") {
        let secret = false;
        const out: Record<string, any> = {};
        for (const [k, x] of Object.entries(v)) { const u = deepUnwrap(x); out[k] = u.value; secret ||= u.secret; }
        return { value: out, secret };
    }
    return { value: v, secret: false };
};

/** `fn` applied to a copy of wire-form props: secrets unwrapped first, top-level secret keys wrapped again after. */
function editWire(props: Record<string, any>, fn: (p: any) => void): Record<string, any> {
    const plain: Record<string, any> = {};
    const secret = new Set<string>();
    for (const [k, v] of Object.entries(props)) { const u = deepUnwrap(v); plain[k] = u.value; if (u.secret) secret.add(k); }
    fn(plain);
    for (const k of secret) if (k in plain) plain[k] = { [SIG]: SECRET, value: plain[k] };
    return plain;
}

export function indexOf(rs: Rs, name: string, type?: string): number {
    const found = rs.map((r, i) => [r, i] as const).filter(([r]) => r.name === name && (type === undefined || r.type === type) && !r.type.startsWith("archaeo:"));
    if (found.length !== 1) throw new Error(`expected one resource ${name}${type ? ` (${type})` : ""}, found ${found.length}`);
    return found[0][1];
}
export const get = (rs: Rs, name: string, type?: string): RecordedResource => rs[indexOf(rs, name, type)];

/** Applies `fn` to a resource's props in all four views (inputs, state, and their wire forms). */
export function edit(rs: Rs, name: string, fn: (p: any) => void, type?: string): Rs {
    const i = indexOf(rs, name, type);
    const r = structuredClone(rs[i]) as Mutable<RecordedResource>;
    r.rawInputs = editWire(r.rawInputs, fn);
    r.rawState = editWire(r.rawState, fn);
    const inputs = structuredClone(r.inputs); fn(inputs); r.inputs = inputs;
    const state = structuredClone(r.state); fn(state); r.state = state;
    r.secretInputs = Object.keys(r.rawInputs).filter((k) => isSecret(r.rawInputs[k]));
    rs[i] = r;
    return rs;
}

/** Changes resource options (protect, retainOnDelete, provider...). */
export function options(rs: Rs, name: string, patch: Partial<RecordedResource>, type?: string): Rs {
    const i = indexOf(rs, name, type);
    rs[i] = { ...structuredClone(rs[i]), ...patch };
    return rs;
}

/** Edits a JSON policy document held in a string property. */
export const editDoc = (rs: Rs, name: string, fn: (d: any) => void, prop = "policy"): Rs =>
    edit(rs, name, (p) => { const d = JSON.parse(p[prop]); fn(d); p[prop] = JSON.stringify(d); });

/** The statement with this Sid. */
export function sid(d: any, s: string): any {
    const st = d.Statement.find((x: any) => x.Sid === s);
    if (!st) throw new Error(`no statement ${s}`);
    return st;
}

/** Edits the #cloud-config text of an instance's userDataBase64 (base64 of gzip, as infra/instance/userdata.ts renders it). */
export const editUserData = (rs: Rs, name: string, fn: (text: string) => string): Rs => edit(rs, name, (p) => {
    const text = zlib.gunzipSync(Buffer.from(p.userDataBase64, "base64")).toString("utf8");
    const changed = fn(text);
    if (changed === text) throw new Error(`user data of ${name} unchanged by the edit`);
    p.userDataBase64 = zlib.gzipSync(Buffer.from(changed, "utf8"), { level: 9 }).toString("base64");
}, "aws:ec2/instance:Instance");

/** Replaces exactly one occurrence of `from` (throws when it is missing, so a case never silently edits nothing). */
export function replaceOnce(text: string, from: string | RegExp, to: string): string {
    const hit = typeof from === "string" ? text.includes(from) : from.test(text);
    if (!hit) throw new Error(`text to replace not found: ${String(from)}`);
    return text.replace(from, to);
}

const stackOf = (rs: Rs) => rs[0].urn.split("::")[0].replace(/^urn:pulumi:/, "");
/** "urn::id" reference of the stack's provider of a package (aws, kubernetes). */
export function providerRef(rs: Rs, pkg: string): string {
    const p = rs.find((r) => r.type === `pulumi:providers:${pkg}`);
    if (!p) throw new Error(`no ${pkg} provider in the stack`);
    return `${p.urn}::${p.id}`;
}
export const regionOf = (rs: Rs): string => get(rs, "archaeo-aws", "pulumi:providers:aws").inputs.region;
export const arnOf = (rs: Rs, name: string, type?: string): string => get(rs, name, type).state.arn;
export const idOf = (rs: Rs, name: string, type?: string): string => get(rs, name, type).id;

export interface NewResource {
    type: string;
    name: string;
    inputs: Record<string, any>;
    /** Name of the component the resource is registered under (its URN carries the component's type). */
    parent?: string;
    /** Package whose stack provider it uses (default: the type's package; "" for the default provider). */
    provider?: string;
    /** Computed outputs the provider would add (default: an id and, for AWS, an ARN as the mock engine fills them). */
    outputs?: Record<string, any>;
    protect?: boolean;
    retainOnDelete?: boolean;
    /** Top-level inputs that are Pulumi secrets. */
    secret?: string[];
}

/** Registers a new resource the way the stack's own are recorded. */
export function add(rs: Rs, n: NewResource): Rs {
    const stack = stackOf(rs);
    const parent = n.parent ? rs.find((r) => r.name === n.parent && r.type.startsWith("archaeo:")) : undefined;
    if (n.parent && !parent) throw new Error(`no component ${n.parent}`);
    const pkg = n.provider ?? n.type.split(":")[0];
    const region = regionOf(rs);
    const id = n.outputs?.id ?? `${n.name}-id`;
    const outputs = { ...(pkg === "aws" || pkg === "kubernetes" ? { arn: `arn:aws:mock:${region}:${MOCK_ACCOUNT_ID}:${n.type}/${n.name}` } : {}), ...n.outputs, id };
    const wire = (o: Record<string, any>) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k, n.secret?.includes(k) ? { [SIG]: SECRET, value: v } : v]));
    const state = { ...n.inputs, ...outputs };
    const parentType = parent ? parent.urn.split("::")[2] : "";
    rs.push({
        type: n.type, name: n.name,
        urn: `urn:pulumi:${stack}::archaeo-workbench::${parentType ? `${parentType}$` : ""}${n.type}::${n.name}`,
        custom: true, parent: parent?.urn ?? "", provider: pkg ? providerRef(rs, pkg) : "",
        protect: n.protect ?? false, retainOnDelete: n.retainOnDelete ?? false, deleteBeforeReplace: false, ignoreChanges: [],
        dependencies: [], additionalSecretOutputs: [], secretPaths: n.secret ?? [],
        inputs: structuredClone(n.inputs), secretInputs: n.secret ?? [], state: structuredClone(state),
        rawInputs: wire(structuredClone(n.inputs)), rawState: wire(structuredClone(state)), id,
    });
    return rs;
}

/** Kubernetes labels as the stack's own objects carry them. */
export const k8sLabels = (stack: string, name: string) => ({
    "app.kubernetes.io/managed-by": "pulumi", "app.kubernetes.io/name": name, "app.kubernetes.io/part-of": "archaeo-workbench",
    "archaeo/institution": stack, "archaeo/stack": stack,
});

export const doc = (...Statement: object[]) => JSON.stringify({ Version: "2012-10-17", Statement });
export const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64");
export const gzb64 = (s: string) => zlib.gzipSync(Buffer.from(s, "utf8")).toString("base64");
