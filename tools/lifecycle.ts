/**
 * The lifecycle rehearsal: a stack's life as a sequence of `pulumi up`s (and a `pulumi destroy`), each
 * planned against the state the previous one left, with the providers' own replace-on-change rules
 * (tools/replacements.ts, generated from their source) and Pulumi's engine rules:
 *
 * - a changed input replaces the resource when a rule says so, else updates it in place; `ignoreChanges`
 *   paths keep their recorded value (pulumi/pulumi step_generator: the old input is used for them);
 * - a replaced resource gets a new provider-assigned identity (instance id, volume id, key id...; not a
 *   name the program chose), so every input that carried the old one changes too, and may replace its
 *   holder in turn (an attachment's instanceId) — to a fixed point;
 * - a resource protected in state and in the program is never replaced, and one protected in state is
 *   never deleted: the engine refuses (step_generator.go `new.Protect && old.Protect`; DeleteStep.Apply
 *   `s.old.Protect`), and `pulumi up`, which previews first, stops before changing anything;
 * - `retainOnDelete` drops the resource from state and leaves it in the cloud (it is remembered here: a
 *   later create of the same object meets it);
 * - a Kubernetes update of a field the API server holds immutable (and the provider does not replace)
 *   fails at `up`.
 *
 * Beyond Pulumi's view, two controllers act on what the plan does not show: Karpenter replaces drifted
 * nodes (a new AMI behind an unpinned alias, a new Kubernetes version), evicting the server pods on
 * them unless they carry karpenter.sh/do-not-disrupt; and the PersistentVolume controller never binds a
 * claim to a retained PersistentVolume still Released to an old claim. Both are modelled here from their
 * documentation, and checked by the scenarios (test/lifecycle.test.ts).
 */
import type { RecordedResource } from "./mock-engine";
import type { ReplaceRulesTable } from "./replace-rules/generate";
import { REPLACE_RULES, replacementDecision, under, unindexed } from "./replacements";
import { stopServerCommands } from "./day-two";

export interface StateResource {
    readonly urn: string;
    readonly type: string;
    readonly name: string;
    readonly protect: boolean;
    readonly retainOnDelete: boolean;
    readonly deleteBeforeReplace: boolean;
    readonly ignoreChanges: readonly string[];
    /** Inputs as applied: ignored paths hold their recorded value; other resources' identities at their generation. */
    readonly inputs: Record<string, unknown>;
    /** Identity strings the provider assigned at creation (id, and outputs carrying it) as the mock reports them. */
    readonly tokens: readonly string[];
    /** How many times it was replaced: each replacement gives it a new provider-assigned identity. */
    readonly generation: number;
}

/** Something Pulumi forgot and the cloud kept (retainOnDelete), or left behind by a delete (a final snapshot). */
export interface Kept { readonly type: string; readonly name: string; readonly urn: string; readonly inputs: Record<string, unknown>; readonly generation: number; readonly why: string }

export interface StackState {
    readonly resources: ReadonlyMap<string, StateResource>;
    readonly kept: readonly Kept[];
}

export const EMPTY_STATE: StackState = { resources: new Map(), kept: [] };

export interface ResourceStep {
    readonly name: string;
    readonly type: string;
    readonly urn: string;
    readonly action: "create" | "update" | "replace" | "delete" | "retain";
    /** Changed input paths (updates, replacements). */
    readonly paths: readonly string[];
    /** The paths that force the replacement. */
    readonly replaceBecause: readonly string[];
    /** A replacement or update caused by another resource's new identity: that resource's name. */
    readonly via?: string;
}

export interface StepPlan {
    readonly created: readonly string[];
    readonly updated: readonly string[];
    readonly replaced: readonly string[];
    readonly deleted: readonly string[];
    /** Dropped from state and kept in the cloud (retainOnDelete). */
    readonly retained: readonly string[];
    /** Resources whose only change is a resource option (protect, retainOnDelete...): no provider call. */
    readonly optionsChanged: readonly string[];
    /** What the engine refuses (protected), each with the engine's reason: any refusal stops the whole `up`. */
    readonly refused: ReadonlyArray<{ name: string; urn: string; reason: string }>;
    /** Updates the Kubernetes API server refuses (an immutable field the provider updates in place). */
    readonly apiRefused: ReadonlyArray<{ name: string; path: string; reason: string }>;
    /** Conditional replace rules reached that no evaluator decides (counted as replacements). */
    readonly undecided: ReadonlyArray<{ name: string; path: string; why: string }>;
    /** Creates that meet an object a previous step retained (same physical identity). */
    readonly meetsRetained: ReadonlyArray<{ name: string; kept: Kept }>;
    readonly steps: ReadonlyMap<string, ResourceStep>;
    /** Whether `up` completes. */
    readonly ok: boolean;
    /** The state after the `up` (unchanged when it fails: it stops at its preview). */
    readonly state: StackState;
}

// ---------------------------------------------------------------------------------------------------

/** Fields the Kubernetes API server refuses to change, that pulumi-kubernetes updates in place (not in its forceNew table). */
export const KUBERNETES_API_IMMUTABLE: Readonly<Record<string, { paths: readonly string[]; except?: readonly string[]; source: string }>> = {
    // kubernetes pkg/apis/storage/validation ValidateStorageClassUpdate: parameters, provisioner, reclaimPolicy
    // ("updates to reclaimPolicy are forbidden") and volumeBindingMode (ValidateImmutableField).
    "kubernetes:storage.k8s.io/v1:StorageClass": { paths: ["reclaimPolicy", "volumeBindingMode", "parameters", "provisioner"], source: "kubernetes pkg/apis/storage/validation ValidateStorageClassUpdate" },
    // kubernetes pkg/apis/core/validation ValidatePersistentVolumeClaimUpdate: "spec is immutable after creation
    // except resources.requests and volumeAttributesClassName for bound claims".
    "kubernetes:core/v1:PersistentVolumeClaim": { paths: ["spec"], except: ["spec.resources.requests", "spec.volumeAttributesClassName"], source: "kubernetes pkg/apis/core/validation ValidatePersistentVolumeClaimUpdate" },
    // ValidatePersistentVolumeUpdate: the volume source ("spec.persistentvolumesource is immutable after creation") and volumeMode.
    "kubernetes:core/v1:PersistentVolume": { paths: ["spec.csi", "spec.nfs", "spec.hostPath", "spec.volumeMode"], source: "kubernetes pkg/apis/core/validation ValidatePersistentVolumeUpdate" },
    // ValidateStatefulSetUpdate: "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template',
    // 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden".
    "kubernetes:apps/v1:StatefulSet": {
        paths: ["spec"],
        except: ["spec.replicas", "spec.ordinals", "spec.template", "spec.updateStrategy", "spec.persistentVolumeClaimRetentionPolicy", "spec.minReadySeconds"],
        source: "kubernetes pkg/apis/apps/validation ValidateStatefulSetUpdate",
    },
};

function flatten(v: unknown, prefix: string, out: Map<string, unknown>): Map<string, unknown> {
    if (Array.isArray(v)) {
        if (v.length === 0) out.set(prefix, []);
        v.forEach((x, i) => flatten(x, `${prefix}[${i}]`, out));
    } else if (v && typeof v === "object") {
        const keys = Object.keys(v as object);
        if (keys.length === 0) out.set(prefix, {});
        for (const k of keys) flatten((v as Record<string, unknown>)[k], prefix ? `${prefix}.${k}` : k, out);
    } else if (v !== undefined) {
        out.set(prefix, v);
    }
    return out;
}

function diffInputs(a: Record<string, unknown>, b: Record<string, unknown>): Array<{ path: string; before: unknown; after: unknown }> {
    const fa = flatten(a, "", new Map());
    const fb = flatten(b, "", new Map());
    const out: Array<{ path: string; before: unknown; after: unknown }> = [];
    for (const p of [...new Set([...fa.keys(), ...fb.keys()])].sort()) {
        if (JSON.stringify(fa.get(p)) !== JSON.stringify(fb.get(p))) out.push({ path: p, before: fa.get(p), after: fb.get(p) });
    }
    return out;
}

/** Reads / writes a dotted path ("spec.selector", "ami"). */
function getPath(o: Record<string, unknown>, path: string): unknown {
    return path.split(".").reduce<unknown>((x, k) => (x && typeof x === "object" ? (x as Record<string, unknown>)[k] : undefined), o);
}
function setPath(o: Record<string, unknown>, path: string, v: unknown): void {
    const keys = path.split(".");
    let cur: Record<string, unknown> = o;
    for (const k of keys.slice(0, -1)) {
        if (!cur[k] || typeof cur[k] !== "object") cur[k] = {};
        cur = cur[k] as Record<string, unknown>;
    }
    if (v === undefined) delete cur[keys[keys.length - 1]];
    else cur[keys[keys.length - 1]] = v;
}

const clone = <T>(v: T): T => (v === undefined ? v : JSON.parse(JSON.stringify(v)));

/** Every string value in a tree. */
function strings(v: unknown, out: string[] = []): string[] {
    if (typeof v === "string") out.push(v);
    else if (Array.isArray(v)) v.forEach((x) => strings(x, out));
    else if (v && typeof v === "object") Object.values(v).forEach((x) => strings(x, out));
    return out;
}

/**
 * The identity strings a provider assigned to a resource: its id and computed outputs carrying a generated
 * part (a hex run of 8 or more: i-0abc..., vol-..., a key id), unless the resource's own inputs already
 * contain them (a name the program chose: a role, a bucket, a parameter keep their ARN when replaced).
 */
export function identityTokens(r: RecordedResource): string[] {
    const own = strings(r.inputs);
    const computed = [r.id, ...Object.entries(r.state).filter(([k]) => !(k in r.inputs)).flatMap(([, v]) => strings(v))];
    return [...new Set(computed)].filter((t) => /[0-9a-f]{8,}/.test(t) && !own.some((s) => s.includes(t)) && t.length >= 10);
}

/** Replaces every occurrence of a token of a re-created resource by its current generation's stand-in. */
function substituter(gens: Map<string, { tokens: readonly string[]; generation: number }>): (v: unknown) => unknown {
    const pairs: Array<[string, string]> = [];
    for (const { tokens, generation } of gens.values()) if (generation > 0) for (const t of tokens) pairs.push([t, `${t}~g${generation}`]);
    if (!pairs.length) return clone;
    pairs.sort((a, b) => b[0].length - a[0].length);
    const map = new Map(pairs);
    const re = new RegExp(pairs.map(([t]) => t.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")).join("|"), "g");
    const walk = (v: unknown): unknown => {
        if (typeof v === "string") return v.replace(re, (m) => map.get(m)!);
        if (Array.isArray(v)) return v.map(walk);
        if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
        return v;
    };
    return walk;
}

/** A Kubernetes object's or AWS resource's physical identity, for meeting what an earlier step retained. */
function physicalKey(type: string, inputs: Record<string, unknown>): string | undefined {
    if (type.startsWith("kubernetes:")) {
        const md = (inputs.metadata ?? {}) as Record<string, unknown>;
        return md.name ? `${type}/${md.namespace ?? ""}/${md.name}` : undefined;
    }
    return undefined;
}

/** How the rehearsal names a resource: its class and name ("Instance:archaeo-ws-alice-instance"); names alone repeat across types. */
export const label = (r: { type: string; name: string }) => `${r.type.split(":").pop()}:${r.name}`;

/**
 * Plans one `pulumi up` of `resources` (a program evaluation) against `prev`. `unprotected` lists URNs the
 * engineer unprotected in state first (`pulumi state unprotect`); `rules` replaces the generated table (tests that flip a rule).
 */
export function planUp(prev: StackState, resources: readonly RecordedResource[], opts: { unprotected?: readonly string[]; rules?: ReplaceRulesTable } = {}): StepPlan {
    const customs = resources.filter((r) => r.custom);
    const names = new Set<string>();
    for (const r of customs) {
        const l = label(r);
        if (names.has(l)) throw new Error(`two resources labelled ${l}: the rehearsal names steps by class and name`);
        names.add(l);
    }
    const unprotected = new Set(opts.unprotected ?? []);
    const old = new Map([...prev.resources].map(([u, r]) => [u, unprotected.has(u) ? { ...r, protect: false } : r]));
    const next = new Map(customs.map((r) => [r.urn, r]));
    const tokens = new Map(customs.map((r) => [r.urn, identityTokens(r)]));

    const steps = new Map<string, ResourceStep>();
    const refused: Array<{ name: string; urn: string; reason: string }> = [];
    const apiRefused: Array<{ name: string; path: string; reason: string }> = [];
    const undecided: Array<{ name: string; path: string; why: string }> = [];
    const optionsChanged: string[] = [];
    const applied = new Map<string, Record<string, unknown>>();

    // Replacements to a fixed point: each replaced resource's new identity reaches the inputs that carry it.
    let replaced = new Set<string>();
    for (;;) {
        const gens = new Map<string, { tokens: readonly string[]; generation: number }>();
        for (const [urn, r] of old) gens.set(urn, { tokens: r.tokens, generation: r.generation + (replaced.has(urn) ? 1 : 0) });
        const subst = substituter(gens);
        const nowReplaced = new Set<string>();
        steps.clear();
        undecided.length = 0;
        applied.clear();
        for (const [urn, r] of next) {
            const inputs = subst(r.inputs) as Record<string, unknown>;
            const o = old.get(urn);
            if (o) for (const p of r.ignoreChanges) setPath(inputs, p, clone(getPath(o.inputs, p)));
            applied.set(urn, inputs);
            if (!o) { steps.set(label(r), { name: label(r), type: r.type, urn, action: "create", paths: [], replaceBecause: [] }); continue; }
            const changes = diffInputs(o.inputs, inputs);
            if (!changes.length) continue;
            const d = replacementDecision(r.type, changes, inputs, o.inputs, opts.rules ?? REPLACE_RULES);
            for (const u of d.undecided) undecided.push({ name: label(r), path: u.path, why: u.why });
            const because = [...new Set([...d.replace, ...d.undecided.map((u) => u.path)])];
            const via = changes.map((c) => String(c.after ?? "")).map((s) => /~g\d+/.test(s) ? [...old.values()].find((x) => x.tokens.some((t) => s.includes(`${t}~g`))) : undefined).find(Boolean);
            if (because.length) nowReplaced.add(urn);
            steps.set(label(r), { name: label(r), type: r.type, urn, action: because.length ? "replace" : "update", paths: changes.map((c) => c.path), replaceBecause: because, ...(via ? { via: label(via) } : {}) });
        }
        if ([...nowReplaced].every((u) => replaced.has(u))) { replaced = nowReplaced; break; }
        replaced = new Set([...replaced, ...nowReplaced]);
    }

    for (const [urn, r] of next) {
        const o = old.get(urn);
        if (!o) continue;
        const s = steps.get(label(r));
        if (s?.action === "replace" && r.protect && o.protect) {
            refused.push({ name: label(r), urn, reason: `unable to replace resource "${urn}" as it is currently marked for protection (replace: ${s.replaceBecause.join(", ")})` });
        }
        if (s?.action === "update") {
            const rule = KUBERNETES_API_IMMUTABLE[r.type];
            for (const p of rule ? s.paths : []) {
                const q = unindexed(p);
                if (rule.paths.some((x) => under(q, x)) && !(rule.except ?? []).some((x) => under(q, x))) apiRefused.push({ name: label(r), path: p, reason: `${rule.source}: the API server refuses to change ${p}` });
            }
        }
        if (!s && (o.protect !== r.protect || o.retainOnDelete !== r.retainOnDelete || o.deleteBeforeReplace !== r.deleteBeforeReplace)) optionsChanged.push(label(r));
    }

    const kept: Kept[] = [...prev.kept];
    const retained: string[] = [];
    for (const [urn, o] of old) {
        if (next.has(urn)) continue;
        const l = label(o);
        if (o.protect) {
            refused.push({ name: l, urn, reason: `unable to delete resource "${urn}" as it is currently marked for protection` });
            steps.set(l, { name: l, type: o.type, urn, action: "delete", paths: [], replaceBecause: [] });
        } else if (o.retainOnDelete) {
            retained.push(l);
            kept.push({ type: o.type, name: o.name, urn, inputs: o.inputs, generation: o.generation, why: "retainOnDelete: dropped from state, kept in the cloud" });
            steps.set(l, { name: l, type: o.type, urn, action: "retain", paths: [], replaceBecause: [] });
        } else {
            steps.set(l, { name: l, type: o.type, urn, action: "delete", paths: [], replaceBecause: [] });
        }
    }

    const meetsRetained: Array<{ name: string; kept: Kept }> = [];
    for (const s of steps.values()) {
        if (s.action !== "create") continue;
        const key = physicalKey(s.type, applied.get(s.urn)!);
        const k = key && prev.kept.find((x) => physicalKey(x.type, x.inputs) === key);
        if (k) meetsRetained.push({ name: s.name, kept: k });
    }

    const by = (a: ResourceStep["action"]) => [...steps.values()].filter((s) => s.action === a).map((s) => s.name).sort();
    const ok = refused.length === 0 && apiRefused.length === 0;
    let state = prev;
    if (ok) {
        const resourcesAfter = new Map<string, StateResource>();
        for (const [urn, r] of next) {
            const o = old.get(urn);
            resourcesAfter.set(urn, {
                urn, type: r.type, name: r.name, protect: r.protect, retainOnDelete: r.retainOnDelete, deleteBeforeReplace: r.deleteBeforeReplace,
                ignoreChanges: [...r.ignoreChanges], inputs: applied.get(urn)!, tokens: o?.tokens ?? tokens.get(urn)!,
                generation: o ? o.generation + (replaced.has(urn) ? 1 : 0) : 0,
            });
        }
        state = { resources: resourcesAfter, kept };
    }
    return {
        created: by("create"), updated: by("update"), replaced: by("replace"), deleted: by("delete"), retained: by("retain"),
        optionsChanged: optionsChanged.sort(), refused, apiRefused, undecided, meetsRetained, steps, ok, state,
    };
}

// ---------------------------------------------------------------------------------------------------
// pulumi destroy

/**
 * What a delete meets in the cloud, by resource type: the contents a stack's life leaves in it, and whether the
 * provider's delete then fails. Each cites the provider's delete.
 */
export const DELETE_PRECONDITIONS: Readonly<Record<string, { holds: string; fails: (inputs: Record<string, unknown>) => string | undefined; source: string }>> = {
    "aws:s3/bucket:Bucket": {
        holds: "objects and their versions (datasets, researchers' prefixes; CloudTrail writes audit logs until the trail goes)",
        fails: (i) => (i.forceDestroy === true ? undefined : "BucketNotEmpty: the bucket still holds objects (forceDestroy is off)"),
        source: "terraform-provider-aws v6.58.0 resourceBucketDelete: on BucketNotEmpty, with force_destroy it empties the bucket (emptyBucket, every version) and retries; without, the error stands",
    },
    "aws:ecr/repository:Repository": {
        holds: "the images `pulumi up` pushed (a docker Image delete does not delete the pushed image)",
        fails: (i) => (i.forceDelete === true ? undefined : "RepositoryNotEmptyException: the repository still holds images (forceDelete is off)"),
        source: "terraform-provider-aws v6.58.0 resourceRepositoryDelete: DeleteRepository with Force = force_delete; otherwise 'ECR Repository (...) not empty, consider using force_delete'",
    },
    "aws:cognito/userPool:UserPool": {
        holds: "researchers' accounts",
        fails: (i) => (i.deletionProtection === "ACTIVE" ? "InvalidParameterException: the user pool has deletion protection ACTIVE" : undefined),
        source: "AWS's cognito-idp model (botocore 1.43.11, CreateUserPool DeletionProtection): 'When you try to delete a protected user pool in a DeleteUserPool API request, Amazon Cognito returns an InvalidParameterException error'",
    },
    "aws:backup/vault:Vault": {
        holds: "recovery points of the daily EFS backups",
        fails: (i) => (i.forceDestroy === true ? undefined : "InvalidRequestException: the backup vault still holds recovery points (forceDestroy is off)"),
        source: "terraform-provider-aws v6.58.0 resourceVaultDelete: with force_destroy it deletes every recovery point first (ListRecoveryPointsByBackupVault, DeleteRecoveryPoint); AWS Backup refuses to delete a vault that holds recovery points",
    },
};

/** What a delete leaves behind by design (not Pulumi resources): for the README's teardown notes. */
export const DELETE_LEAVES: Readonly<Record<string, (inputs: Record<string, unknown>) => string | undefined>> = {
    // terraform-provider-aws resourceEBSVolumeDelete: `if d.Get("final_snapshot")` CreateSnapshot, wait, then DeleteVolume.
    "aws:ebs/volume:Volume": (i) => (i.finalSnapshot === true ? "a final EBS snapshot of the volume (finalSnapshot)" : undefined),
    // KMS ScheduleKeyDeletion: the key is pending deletion for deletionWindowInDays, then deleted.
    "aws:kms/key:Key": (i) => `the key, pending deletion for ${i.deletionWindowInDays ?? 30} days (cancel-key-deletion restores it)`,
    // Data Lifecycle Manager's snapshots are not deleted with the policy.
    "aws:dlm/lifecyclePolicy:LifecyclePolicy": () => "the daily workspace snapshots the policy made (deleting a DLM policy keeps its snapshots)",
};

export interface DestroyPlan {
    readonly deleted: readonly string[];
    readonly retained: readonly string[];
    /** Protected: `pulumi destroy` refuses (each with the engine's reason). */
    readonly refused: ReadonlyArray<{ name: string; type: string; reason: string }>;
    /** Provider deletes that would fail on what the resource holds. */
    readonly failures: ReadonlyArray<{ name: string; type: string; reason: string; source: string }>;
    readonly leftBehind: ReadonlyArray<{ name: string; what: string }>;
    readonly ok: boolean;
}

export function planDestroy(state: StackState): DestroyPlan {
    const deleted: string[] = [];
    const retained: string[] = [];
    const refused: Array<{ name: string; type: string; reason: string }> = [];
    const failures: Array<{ name: string; type: string; reason: string; source: string }> = [];
    const leftBehind: Array<{ name: string; what: string }> = [];
    for (const r of state.resources.values()) {
        if (r.protect) { refused.push({ name: label(r), type: r.type, reason: `unable to delete resource "${r.urn}" as it is currently marked for protection` }); continue; }
        if (r.retainOnDelete) { retained.push(label(r)); continue; }
        const pre = DELETE_PRECONDITIONS[r.type];
        const fail = pre?.fails(r.inputs);
        if (pre && fail) failures.push({ name: label(r), type: r.type, reason: fail, source: pre.source });
        else deleted.push(label(r));
        const left = DELETE_LEAVES[r.type]?.(r.inputs);
        if (left && !fail) leftBehind.push({ name: label(r), what: left });
    }
    return { deleted: deleted.sort(), retained: retained.sort(), refused, failures, leftBehind, ok: refused.length === 0 && failures.length === 0 };
}

// ---------------------------------------------------------------------------------------------------
// Karpenter: what a new AMI or Kubernetes version does to the nodes under running servers

export interface DisruptionReport {
    /** EC2NodeClasses whose nodes drift, with why. */
    readonly drifting: ReadonlyArray<{ nodeClass: string; why: string }>;
    /** Whether a running notebook server is evicted by that drift, and why (not). */
    readonly serversEvicted: boolean;
    readonly why: string;
    /** NodePools whose disruption budgets confine drift to a window (name -> the blocking budgets). */
    readonly windowed: readonly string[];
}

/**
 * Karpenter's drift for an event (aws/karpenter-provider-aws v1.x docs, concepts/disruption.md "Drift" and
 * reference/annotations `karpenter.sh/do-not-disrupt`): an EC2NodeClass whose amiSelectorTerms alias is
 * `<family>@latest` resolves to the newest AMI, so a new AMI release drifts its nodes; a pinned alias
 * (`al2023@v20260714`) does not move, but a new Kubernetes version selects that release's AMI for the new
 * version, which drifts every node. Drifted nodes are replaced, evicting their pods, unless a pod carries
 * `karpenter.sh/do-not-disrupt: "true"` (it blocks drift unless the NodePool sets a terminationGracePeriod).
 * Server pods get the hub's singleuser.extraAnnotations (KubeSpawner extra_annotations), or a profile's
 * kubespawner_override.extra_annotations.
 */
export function karpenterDisruption(state: StackState, event: "new-ami" | "kubernetes-upgrade" | "none"): DisruptionReport {
    const objs = [...state.resources.values()];
    const classes = objs.filter((r) => r.type === "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass");
    const pools = objs.filter((r) => r.type === "kubernetes:karpenter.sh/v1:NodePool");
    const drifting: Array<{ nodeClass: string; why: string }> = [];
    for (const c of classes) {
        const terms = (getPath(c.inputs, "spec.amiSelectorTerms") ?? []) as Array<Record<string, unknown>>;
        const aliases = terms.map((t) => t.alias).filter((a): a is string => typeof a === "string");
        const floating = aliases.some((a) => /@latest$/.test(a)) || terms.some((t) => !t.alias && !t.id);
        const name = String(getPath(c.inputs, "metadata.name"));
        if (event === "new-ami" && floating) drifting.push({ nodeClass: name, why: `amiSelectorTerms ${JSON.stringify(terms)} follow the newest AMI` });
        if (event === "kubernetes-upgrade") drifting.push({ nodeClass: name, why: "a new Kubernetes version selects that version's AMI" });
    }
    const windowed = pools.filter((p) => ((getPath(p.inputs, "spec.disruption.budgets") ?? []) as Array<Record<string, unknown>>)
        .some((b) => String(b.nodes) === "0" && (!b.reasons || (b.reasons as string[]).includes("Drifted")) && b.schedule)).map((p) => String(getPath(p.inputs, "metadata.name")));
    if (!drifting.length) return { drifting, serversEvicted: false, why: "no node drifts", windowed };
    const grace = pools.filter((p) => getPath(p.inputs, "spec.template.spec.terminationGracePeriod") !== undefined).map((p) => String(getPath(p.inputs, "metadata.name")));
    const hub = objs.find((r) => r.type === "kubernetes:helm.sh/v3:Release" && r.inputs.chart === "jupyterhub");
    if (!hub) return { drifting, serversEvicted: true, why: "no JupyterHub release found to read the server pods' annotations from", windowed };
    const values = (hub.inputs.values ?? {}) as Record<string, unknown>;
    const base = (getPath(values, "singleuser.extraAnnotations") ?? {}) as Record<string, unknown>;
    const profiles = (getPath(values, "singleuser.profileList") ?? []) as Array<Record<string, unknown>>;
    const unprotected: string[] = [];
    if (base["karpenter.sh/do-not-disrupt"] !== "true") unprotected.push("singleuser.extraAnnotations");
    for (const p of profiles) {
        const ov = getPath(p, "kubespawner_override.extra_annotations") as Record<string, unknown> | undefined;
        if (ov && ov["karpenter.sh/do-not-disrupt"] !== "true") unprotected.push(`profile '${p.slug ?? p.display_name}' kubespawner_override.extra_annotations`);
    }
    if (unprotected.length) return { drifting, serversEvicted: true, why: `server pods lack karpenter.sh/do-not-disrupt: "true" (${unprotected.join(", ")})`, windowed };
    if (grace.length) return { drifting, serversEvicted: true, why: `NodePools ${grace.join(", ")} set terminationGracePeriod: drift evicts do-not-disrupt pods when it elapses`, windowed };
    return { drifting, serversEvicted: false, why: "every server pod carries karpenter.sh/do-not-disrupt: \"true\": drifted nodes wait until their servers stop", windowed };
}

// ---------------------------------------------------------------------------------------------------
// PersistentVolume binding on re-create

/**
 * Claims that stay Pending after an `up`: a PersistentVolume created over one a previous step retained
 * (retainOnDelete) meets the old object, which the PV controller left Released with `spec.claimRef` naming the
 * deleted claim's uid. Server-side apply of the program's spec keeps that claimRef (the controller owns it),
 * and the controller never binds a Released volume to another claim (kubernetes pkg/controller/volume/
 * persistentvolume: a volume whose claimRef.uid differs from the claim's is "bound to a different claim").
 */
export function pendingClaims(plan: StepPlan): Array<{ pv: string; why: string }> {
    return plan.meetsRetained.filter((m) => m.kept.type === "kubernetes:core/v1:PersistentVolume")
        .map((m) => ({ pv: m.name, why: `PersistentVolume ${String(getPath(m.kept.inputs, "metadata.name"))} was retained when its claim was deleted: Released, claimRef.uid of the old claim; the new claim stays Pending` }));
}

// ---------------------------------------------------------------------------------------------------
// A claim mounted by a running server (pvc-protection)

/**
 * Claims this `up` deletes while a running server mounts them. The PVC protection admission plugin and controller
 * (Kubernetes docs, concepts/storage/persistent-volumes.md "Storage Object in Use Protection": "If a user deletes a
 * PVC in active use by a Pod, the PVC is not removed immediately. PVC removal is postponed until the PVC is no longer
 * actively used by any Pods") keep the claim Terminating, and pulumi-kubernetes waits for the object to be gone
 * (provider/pkg/await/await.go Deletion: "will block until ... the Kubernetes resource is reported to be deleted" or
 * its timeout, 10 minutes by default), so the `up` fails. A server's claims are the hub release's
 * singleuser.storage.extraVolumes with {username} expanded (KubeSpawner expands it per server), as `prev` recorded
 * them (the running server was spawned with those). `running`: researcher ids whose server runs during the `up`.
 */
export function claimsHeldByServers(prev: StackState, plan: StepPlan, running: readonly string[]): Array<{ claim: string; researcher: string; why: string }> {
    const hub = [...prev.resources.values()].find((r) => r.type === "kubernetes:helm.sh/v3:Release" && r.inputs.chart === "jupyterhub");
    if (!hub) return [];
    const ns = String(hub.inputs.namespace ?? "");
    const volumes = (getPath((hub.inputs.values ?? {}) as Record<string, unknown>, "singleuser.storage.extraVolumes") ?? []) as Array<Record<string, unknown>>;
    const templates = volumes.map((v) => getPath(v, "persistentVolumeClaim.claimName")).filter((c): c is string => typeof c === "string");
    const out: Array<{ claim: string; researcher: string; why: string }> = [];
    for (const step of plan.steps.values()) {
        if (step.type !== "kubernetes:core/v1:PersistentVolumeClaim" || (step.action !== "delete" && step.action !== "replace")) continue;
        const old = prev.resources.get(step.urn);
        if (!old || String(getPath(old.inputs, "metadata.namespace")) !== ns) continue;
        const claim = String(getPath(old.inputs, "metadata.name"));
        const researcher = running.find((id) => templates.some((t) => t.replace(/\{username\}/g, id) === claim));
        if (researcher === undefined) continue;
        out.push({
            claim: step.name, researcher,
            why: `claim ${ns}/${claim} is mounted by ${researcher}'s running server (pod jupyter-${researcher}): pvc-protection keeps it Terminating and ` +
                `pulumi-kubernetes waits until its timeout; stop the server first: ${stopServerCommands(researcher).kubectl}`,
        });
    }
    return out;
}
