/**
 * Helm releases (kubernetes:helm.sh/v3:Release): pinned, allow-listed charts; no privileged settings
 * and no images from outside the allowed registries in `values`; JupyterHub's values (authentication,
 * non-root single-user servers pinned by digest from the stack's ECR, a GPU quota in its namespace).
 * The pack sees `values` only: objects a chart renders from its own defaults stay invisible to it.
 */
import { ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";
import { cidrBreadthProblems } from "../lib/cidr";
import { label, onStack, onType } from "../lib/rule";
import { Deferrals } from "../lib/unknowns";
import { asArray, at, get, once, snapshot, UNKNOWN } from "../lib/util";
import { DIGEST, stackRepositories } from "./kubernetes";
import { BREADTH_SCHEMA, BreadthConfig, limitsOf } from "./network";

export const RELEASE = "kubernetes:helm.sh/v3:Release";

export interface AllowedChart { chart: string; version: string; repo?: string }

/** The charts this design installs, pinned (infra/cluster/karpenter.ts CHARTS; Zero to JupyterHub 4.4.0). */
export const DEFAULT_CHARTS: AllowedChart[] = [
    { chart: "oci://public.ecr.aws/karpenter/karpenter", version: "1.11.1" },
    { chart: "nvidia-device-plugin", repo: "https://nvidia.github.io/k8s-device-plugin", version: "0.19.0" },
    { chart: "jupyterhub", repo: "https://hub.jupyter.org/helm-chart/", version: "4.4.0" },
];

/** The pinned charts' own registries (the stack's ECR is always allowed in addition). */
export const DEFAULT_REGISTRIES = ["public.ecr.aws/karpenter", "nvcr.io/nvidia", "quay.io/jupyterhub", "registry.k8s.io"];

const sameRepo = (a?: string, b?: string) => (a ?? "").replace(/\/+$/, "") === (b ?? "").replace(/\/+$/, "");

/** Image references written in `values`, with where they are (string `image`, or {registry, repository|name, tag, digest}). */
export function imagesIn(values: any, path = "values"): Array<{ path: string; ref: string | typeof UNKNOWN }> {
    const out: Array<{ path: string; ref: string | typeof UNKNOWN }> = [];
    const walk = (node: any, p: string) => {
        if (node === UNKNOWN || node === null || typeof node !== "object") return;
        for (const [k, v] of Object.entries(node)) {
            const here = Array.isArray(node) ? `${p}[${k}]` : `${p}.${k}`;
            if (/^image$/i.test(k) || /Image$/.test(k)) {
                if (v === UNKNOWN || typeof v === "string") { out.push({ path: here, ref: v as string | typeof UNKNOWN }); continue; }
                if (v && typeof v === "object" && ("repository" in v || "name" in v)) {
                    const o = v as Record<string, unknown>;
                    const parts = [o.registry, o.repository ?? o.name, o.tag, o.digest];
                    if (parts.includes(UNKNOWN)) { out.push({ path: here, ref: UNKNOWN }); continue; }
                    const repo = [o.registry, o.repository ?? o.name].filter(Boolean).join("/");
                    out.push({ path: here, ref: `${repo}${o.tag ? `:${o.tag}` : ""}${o.digest ? `@${o.digest}` : ""}` });
                    continue;
                }
            }
            walk(v, here);
        }
    };
    walk(values, path);
    return out;
}

/** Privileged settings anywhere in `values` (Kubernetes and KubeSpawner spellings). */
export function privilegedSettings(values: any, path = "values"): string[] {
    const out: string[] = [];
    const walk = (node: any, p: string) => {
        if (node === UNKNOWN || node === null || typeof node !== "object") return;
        for (const [k, v] of Object.entries(node)) {
            const here = Array.isArray(node) ? `${p}[${k}]` : `${p}.${k}`;
            if (k === "privileged" && v === true) out.push(`${here}: true`);
            else if ((k === "allowPrivilegeEscalation" || k === "allow_privilege_escalation") && v === true) out.push(`${here}: true`);
            else if (["runAsUser", "uid", "run_as_uid", "fsUser"].includes(k) && (v === 0 || v === "0")) out.push(`${here}: 0 (root)`);
            else if (k === "runAsNonRoot" && v === false) out.push(`${here}: false`);
            else if (["hostNetwork", "hostPID", "hostIPC"].includes(k) && v === true) out.push(`${here}: true`);
            else if (k === "hostPath" && v && typeof v === "object") out.push(`${here} (mounts a host directory)`);
            else if (k === "add" && /capabilities$/.test(p) && asArray(v as string[]).some((c) => ["ALL", "SYS_ADMIN", "NET_ADMIN", "SYS_PTRACE", "SYS_MODULE"].includes(String(c)))) out.push(`${here}: ${asArray(v as string[]).join(", ")}`);
            else walk(v, here);
        }
    };
    walk(values, path);
    return out;
}

/** Is `ref` from one of `registries` ("host/path" prefixes) or exactly one of `repos` (ECR URLs)? */
function fromAllowed(ref: string, registries: string[], repos: string[]): boolean {
    return registries.some((r) => ref.startsWith(`${r.replace(/\/+$/, "")}/`)) || repos.some((u) => ref.startsWith(`${u}@`) || ref.startsWith(`${u}:`));
}

const isJupyterHub = (chart: unknown) => typeof chart === "string" && (chart === "jupyterhub" || /\/jupyterhub$/.test(chart));

/** The single-user image and the profile overrides' images of a JupyterHub release. */
export function singleuserImages(v: any): Array<{ path: string; ref: string | typeof UNKNOWN | undefined }> {
    const out: Array<{ path: string; ref: string | typeof UNKNOWN | undefined }> = [];
    const name = at(v, "singleuser.image.name");
    const tag = at(v, "singleuser.image.tag");
    // jupyterhub_config.py (chart 4.4.0): image = f"{name}:{tag}" when tag is set, else name.
    out.push({ path: "values.singleuser.image", ref: name === UNKNOWN || tag === UNKNOWN ? UNKNOWN : name ? `${name}${tag ? `:${tag}` : ""}` : undefined });
    const profiles = at(v, "singleuser.profileList");
    if (profiles === UNKNOWN) out.push({ path: "values.singleuser.profileList", ref: UNKNOWN });
    else asArray(profiles).forEach((p: any, i: number) => {
        if (p === UNKNOWN) { out.push({ path: `values.singleuser.profileList[${i}]`, ref: UNKNOWN }); return; }
        const img = at(p, "kubespawner_override.image");
        if (img !== undefined) out.push({ path: `values.singleuser.profileList[${i}].kubespawner_override.image`, ref: img });
        asArray(p?.profile_options === UNKNOWN ? [] : Object.values(p?.profile_options ?? {})).forEach((o: any) => {
            const choices = o?.choices && o.choices !== UNKNOWN ? Object.entries(o.choices) : [];
            for (const [cn, ch] of choices) {
                const ci = at(ch, "kubespawner_override.image");
                if (ci !== undefined) out.push({ path: `values.singleuser.profileList[${i}].profile_options.*.choices.${cn}.kubespawner_override.image`, ref: ci });
            }
        });
    });
    return out;
}

interface HelmConfig { allowedCharts: AllowedChart[]; allowedRegistries: string[] }

export const helmPolicies: ResourceValidationPolicy[] = [
    {
        name: "helm-releases-pinned-and-unprivileged",
        description: "Checks whether every Helm release installs an allow-listed chart at its pinned version from its allow-listed repository, and its values set nothing privileged (privileged, privilege escalation, uid 0, host namespaces, host paths, added capabilities).",
        enforcementLevel: "mandatory",
        configSchema: {
            properties: {
                allowedCharts: {
                    type: "array", default: DEFAULT_CHARTS, description: "Charts (name or oci:// URL), exact versions and repositories this stack may install.",
                    items: { type: "object", properties: { chart: { type: "string" }, version: { type: "string" }, repo: { type: "string" } }, required: ["chart", "version"] },
                },
            },
        },
        validateResource: onType(RELEASE, "Helm release", (r, args, report, d) => {
            const charts = args.getConfig<Partial<HelmConfig>>().allowedCharts ?? DEFAULT_CHARTS;
            const chart = d.read("chart", () => r.chart);
            const version = d.read("version", () => r.version);
            const repo = d.read("repositoryOpts.repo", () => r.repositoryOpts?.repo);
            if (chart !== UNKNOWN && version !== UNKNOWN && repo !== UNKNOWN) {
                const entry = charts.find((c) => c.chart === chart && sameRepo(c.repo, repo as string | undefined));
                if (!entry) report(`Helm release '${args.name}' installs chart '${chart}'${repo ? ` from ${repo}` : ""}, which is not allow-listed (${charts.map((c) => `${c.chart}${c.repo ? ` from ${c.repo}` : ""}`).join(", ")}).`);
                else if (version !== entry.version) report(`Helm release '${args.name}' must pin chart '${chart}' to version ${entry.version} (found ${version ?? "unset: the latest, which can change under you"}).`);
            }
            const values = snapshot(() => r.values);
            if (values === UNKNOWN) { d.defer("values"); return; }
            const privileged = privilegedSettings(values);
            if (privileged.length) report(`Helm release '${args.name}' sets ${privileged.join(", ")}; workloads must run unprivileged as a non-root user.`);
            // A privileged setting could hide in any unknown part, except one whose key names a scalar.
            for (const p of unknownPaths(values)) if (!SCALAR_KEY.test(p.split(/[.[]/).pop() ?? "")) d.defer(p);
        }),
    },
    {
        name: "jupyterhub-values-secure",
        description: "Checks whether a JupyterHub release authenticates each researcher (no dummy or null authenticator, no allow_all), runs single-user servers as non-root without privilege escalation, pins their images by digest, and keeps the proxy off the internet unless source ranges restrict it.",
        enforcementLevel: "mandatory",
        configSchema: { properties: BREADTH_SCHEMA },
        validateResource: onType(RELEASE, "Helm release", (r, args, report, d) => {
            const chart = d.read("chart", () => r.chart);
            if (chart === UNKNOWN || !isJupyterHub(chart)) return;
            const v = snapshot(() => r.values);
            if (v === UNKNOWN) { d.defer("values"); return; }
            const problems: string[] = [];
            const need = (path: string) => { const x = at(v, path); if (x === UNKNOWN) d.defer(`values.${path}`); return x; };
            // Chart 4.4.0 values.yaml: hub.config.JupyterHub.authenticator_class defaults to "dummy".
            const auth = need("hub.config.JupyterHub.authenticator_class");
            if (auth !== UNKNOWN) {
                if (auth === undefined || auth === null || auth === "") problems.push("hub.config.JupyterHub.authenticator_class is unset, so the chart's default 'dummy' lets anyone in with any password");
                else if (/dummy|null/i.test(String(auth))) problems.push(`hub.config.JupyterHub.authenticator_class is '${auth}', which authenticates no one`);
            }
            const config = need("hub.config");
            if (config && config !== UNKNOWN && typeof config === "object") {
                for (const [section, settings] of Object.entries(config as Record<string, any>)) {
                    if (settings === UNKNOWN || !settings || typeof settings !== "object") continue;
                    if (settings.allow_all === true) problems.push(`hub.config.${section}.allow_all is true: anyone the identity provider knows could log in, not only the researchers`);
                    if (section === "DummyAuthenticator" && settings.password !== undefined) problems.push("hub.config.DummyAuthenticator.password sets a shared password");
                }
            }
            const uid = need("singleuser.uid");
            if (uid === 0 || uid === "0") problems.push("singleuser.uid is 0 (root)");
            if (need("singleuser.allowPrivilegeEscalation") === true) problems.push("singleuser.allowPrivilegeEscalation is true");
            const profiles = need("singleuser.profileList");
            if (profiles !== UNKNOWN) asArray(profiles).forEach((p: any, i: number) => {
                const o = p === UNKNOWN ? UNKNOWN : at(p, "kubespawner_override");
                if (o === UNKNOWN) { d.defer(`values.singleuser.profileList[${i}]`); return; }
                if (o?.uid === 0 || o?.uid === "0") problems.push(`singleuser.profileList[${i}].kubespawner_override.uid is 0 (root)`);
                if (o?.allow_privilege_escalation === true || o?.privileged === true) problems.push(`singleuser.profileList[${i}].kubespawner_override escalates privileges`);
            });
            for (const img of singleuserImages(v)) {
                if (img.ref === UNKNOWN) { d.defer(img.path); continue; }
                if (img.ref === undefined) problems.push("singleuser.image.name is unset, so servers run the chart's sample image; set it to the stack's image by digest");
                else if (!DIGEST.test(img.ref)) problems.push(`${img.path.replace(/^values\./, "")} is '${img.ref}', not pinned by digest (name <repo>@sha256:<digest> with no tag, or tag '<tag>@sha256:<digest>')`);
            }
            const svcType = need("proxy.service.type");
            if (svcType !== UNKNOWN && (svcType === undefined || svcType === "LoadBalancer")) {
                const ranges = need("proxy.service.loadBalancerSourceRanges");
                if (ranges !== UNKNOWN) {
                    if (asArray(ranges).length === 0) problems.push(`proxy.service.type is ${svcType ?? "unset (the chart's default LoadBalancer)"} without loadBalancerSourceRanges: the hub would face the whole internet; use ClusterIP (port-forward) or list the institution's CIDRs`);
                    else problems.push(...cidrBreadthProblems(asArray(ranges), limitsOf(args.getConfig<Partial<BreadthConfig>>())).map((p) => `proxy.service.loadBalancerSourceRanges: ${p}`));
                }
            }
            if (problems.length) report(`JupyterHub release '${args.name}': ${problems.join("; ")}.`);
        }),
    },
    {
        name: "cognito-user-pools-mfa",
        description: "Checks whether Cognito user pools require or offer TOTP MFA and allow no self sign-up, and app clients with a secret keep it a secret output.",
        enforcementLevel: "mandatory",
        validateResource: [
            onType("aws:cognito/userPool:UserPool", "Cognito user pool", (p, args, report) => {
                const problems: string[] = [];
                if (!["ON", "OPTIONAL"].includes(p.mfaConfiguration)) problems.push(`mfaConfiguration must be "ON" (or "OPTIONAL"), found ${p.mfaConfiguration ?? "unset (OFF)"}`);
                if (p.softwareTokenMfaConfiguration?.enabled !== true) problems.push("softwareTokenMfaConfiguration.enabled must be true (TOTP authenticator apps)");
                if (p.adminCreateUserConfig?.allowAdminCreateUserOnly !== true) problems.push("adminCreateUserConfig.allowAdminCreateUserOnly must be true: only the researchers the stack creates may sign in, no self sign-up");
                if (problems.length) report(`Cognito user pool '${args.name}': ${problems.join("; ")}.`);
            }),
            onType("aws:cognito/userPoolClient:UserPoolClient", "Cognito app client", (c, args, report) => {
                if (c.generateSecret === true && !asArray(args.opts.additionalSecretOutputs).includes("clientSecret")) {
                    report(`Cognito app client '${args.name}' generates a client secret but clientSecret is not a secret output (additionalSecretOutputs); it would be stored in plain text in the state.`);
                }
                if (asArray(c.allowedOauthFlows).includes("implicit")) report(`Cognito app client '${args.name}' allows the implicit OAuth flow (tokens in the URL); use the authorization code flow.`);
            }),
        ],
    },
];

/** Keys that name a scalar (a name, id, URL, ARN, secret...): an unknown there cannot hide a privileged setting. */
const SCALAR_KEY = /(name|Name|_id|Id|ID|arn|Arn|ARN|url|Url|URL|endpoint|Endpoint|region|Region|host|Host|queue|Queue|tag|digest|version|Version|secret|Secret|issuer|Issuer|domain|Domain|_url)$/;

/** Paths (values.a.b) of the unknown parts of a snapshot. */
function unknownPaths(node: any, p = "values"): string[] {
    if (node === UNKNOWN) return [p];
    if (node === null || typeof node !== "object") return [];
    return Object.entries(node).flatMap(([k, v]) => unknownPaths(v, Array.isArray(node) ? `${p}[${k}]` : `${p}.${k}`));
}

function deferUnknownImages(d: Deferrals, r: { type: string; name: string }, images: Array<{ path: string; ref: unknown }>): Array<{ path: string; ref: string }> {
    const out: Array<{ path: string; ref: string }> = [];
    for (const i of images) {
        if (i.ref === UNKNOWN) d.defer(`${label(r)} ${i.path}`);
        else if (typeof i.ref === "string") out.push({ path: i.path, ref: i.ref });
    }
    return out;
}

export const helmStackPolicies: StackValidationPolicy[] = [
    {
        name: "helm-release-images-allowed",
        description: "Checks whether every image a Helm release's values name comes from this stack's ECR or from an allowed registry (the pinned charts' own registries).",
        enforcementLevel: "mandatory",
        configSchema: {
            properties: { allowedRegistries: { type: "array", items: { type: "string" }, default: DEFAULT_REGISTRIES, description: "Registry prefixes (host/path) images may come from, besides this stack's ECR." } },
        },
        validateStack: onStack((args, report, d) => {
            const registries = args.getConfig<Partial<HelmConfig>>().allowedRegistries ?? DEFAULT_REGISTRIES;
            const repos = once(() => stackRepositories(args.resources));
            for (const r of args.resources.filter((x) => x.type === RELEASE)) {
                const values = snapshot(() => r.props.values);
                if (values === UNKNOWN) { d.defer(`${label(r)}.values`); continue; }
                for (const img of deferUnknownImages(d, r, imagesIn(values))) {
                    if (registries.some((x) => img.ref.startsWith(`${x.replace(/\/+$/, "")}/`))) continue;
                    const rs = repos();
                    if (rs === UNKNOWN) { d.defer(`${label(r)} ${img.path} (this stack's ECR URL is known once the repository exists)`); continue; }
                    if (!fromAllowed(img.ref, registries, rs)) report(`${label(r)} ${img.path} is '${img.ref}', from outside this stack's ECR and the allowed registries (${registries.join(", ")}).`, r.urn);
                }
            }
        }),
    },
    {
        name: "jupyterhub-image-and-gpu-quota",
        description: "Checks whether a JupyterHub release's single-user images are this stack's ECR image, and its namespace has a ResourceQuota on requests.nvidia.com/gpu.",
        enforcementLevel: "mandatory",
        validateStack: onStack((args, report, d) => {
            const repos = once(() => stackRepositories(args.resources));
            const quotas = args.resources.filter((x) => x.type === "kubernetes:core/v1:ResourceQuota").map((q) => ({
                q, ns: get(() => q.props.metadata?.namespace ?? "default"), gpu: get(() => q.props.spec?.hard?.["requests.nvidia.com/gpu"]),
            }));
            for (const r of args.resources.filter((x) => x.type === RELEASE)) {
                const chart = get(() => r.props.chart);
                if (chart === UNKNOWN) { d.defer(`${label(r)}.chart`); continue; }
                if (!isJupyterHub(chart)) continue;
                const v = snapshot(() => r.props.values);
                if (v === UNKNOWN) { d.defer(`${label(r)}.values`); continue; }
                for (const img of deferUnknownImages(d, r, singleuserImages(v))) {
                    const rs = repos();
                    if (rs === UNKNOWN) { d.defer(`${label(r)} ${img.path} (this stack's ECR URL is known once the repository exists)`); continue; }
                    if (!rs.some((u) => img.ref.startsWith(`${u}@`) || img.ref.startsWith(`${u}:`))) report(`${label(r)} ${img.path} is '${img.ref}', not this stack's image (${rs.join(", ") || "no ECR repository in the stack"}).`, r.urn);
                }
                // Extended resources take quota only as requests.<name>:
                // https://kubernetes.io/docs/concepts/policy/resource-quotas/#resource-quota-for-extended-resources
                const ns = get(() => r.props.namespace ?? "default");
                if (ns === UNKNOWN || quotas.some((x) => x.ns === UNKNOWN || x.gpu === UNKNOWN)) { d.defer(`${label(r)} namespace quota`); continue; }
                if (!quotas.some((x) => x.ns === ns && x.gpu !== undefined && x.gpu !== null)) {
                    report(`${label(r)} runs in namespace '${ns}', which has no ResourceQuota with spec.hard["requests.nvidia.com/gpu"]; one researcher could take every GPU.`, r.urn);
                }
            }
        }),
    },
];
