/**
 * Helm releases (kubernetes:helm.sh/v3:Release): pinned, allow-listed charts; no privileged settings
 * and no images from outside the allowed registries in `values`; JupyterHub's values (authentication,
 * non-root single-user servers pinned by digest from the stack's ECR, a GPU quota in its namespace).
 * The pack sees `values` only: objects a chart renders from its own defaults stay invisible to it.
 */
import { ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";
import { addedBeyondRestricted } from "../lib/capabilities";
import { cidrBreadthProblems } from "../lib/cidr";
import { anyOf, label, onStack, onType } from "../lib/rule";
import { Deferrals } from "../lib/unknowns";
import { asArray, at, get, known, once, snapshot, UNKNOWN } from "../lib/util";
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
            else if (k === "add" && /capabilities$/.test(p) && addedBeyondRestricted(v).length) out.push(`${here}: ${asArray(v as string[]).join(", ")}`);
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

export const isJupyterHub = (chart: unknown) => typeof chart === "string" && (chart === "jupyterhub" || /\/jupyterhub$/.test(chart));

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
interface HubConfig { allowedAuthenticators: string[] }

/**
 * Authenticators that log each researcher in as themselves through the stack's identity provider:
 * oauthenticator's entry point "generic-oauth" (what infra/cluster/manifests.ts jupyterhubValues sets,
 * wired to the Cognito pool with MFA) and the class it names. Other OAuth authenticators (github,
 * google, azuread...) are per-person too but bypass that pool and its MFA (cognito-user-pools-mfa), so
 * they are not allowed by default; an institution that moves to its own IdP can list them.
 */
export const DEFAULT_AUTHENTICATORS = ["generic-oauth", "oauthenticator.generic.GenericOAuthenticator"];

/**
 * What is wrong with authenticators shipped in JupyterHub 5.5.0 (pyproject.toml entry points
 * "jupyterhub.authenticators") and in the z2jh 4.4.0 hub image (images/hub/requirements.txt), by
 * entry-point name and class path (lowercased).
 */
const KNOWN_WEAK: Readonly<Record<string, string>> = Object.fromEntries([
    [["dummy", "jupyterhub.auth.dummyauthenticator"], "which lets anyone in as anyone (any password, or one shared password)"],
    [["null", "jupyterhub.auth.nullauthenticator"], "which authenticates no one (external login only)"],
    [["shared-password", "jupyterhub.authenticators.shared.sharedpasswordauthenticator"], "with which \"anyone with the password can login as any user\" (JupyterHub 5 authenticators/shared.py)"],
    [["pam", "default", "jupyterhub.auth.pamauthenticator", "jupyterhub.auth.localauthenticator"], "which checks passwords of the hub container's own Unix users, not the researchers' identities"],
    [["tmp", "tmpauthenticator.tmpauthenticator"], "which logs anyone in as a new anonymous user"],
    [["firstuse", "firstuseauthenticator.firstuseauthenticator"], "with which the first person to log in with a name sets its password"],
    [["native", "nativeauthenticator.nativeauthenticator"], "which lets people sign themselves up"],
].flatMap(([names, why]) => (names as string[]).map((n) => [n, why as string])));

/**
 * Whether `auth` is allowed: an entry-point name matches case-insensitively (JupyterHub 5.5.0
 * traitlets.py EntryPointType.validate looks up value.lower()), a class path exactly.
 */
function authenticatorAllowed(auth: string, allowed: readonly string[]): boolean {
    return allowed.some((a) => (a.includes(".") ? a === auth : a.toLowerCase() === auth.toLowerCase()));
}

const nonEmpty = (v: unknown) => (Array.isArray(v) ? v.length > 0 : v !== undefined && v !== null && v !== "" && !(typeof v === "object" && Object.keys(v as object).length === 0));

/** The hub's configuration directory (z2jh 4.4.0: jupyterhub_config.py, and jupyterhub_config.d/*.py it executes). */
const HUB_CONFIG_DIR = "/usr/local/etc/jupyterhub";
/** KubeSpawner's default pod_name_template (infra/cluster/manifests.ts serverPodName). */
const SERVER_POD_TEMPLATE = "jupyter-{user_server}";

/** The roles the chart itself defines (z2jh 4.4.0 jupyterhub_config.py: the idle culler's, for service jupyterhub-idle-culler). */
const CHART_SERVICE_SCOPES: Readonly<Record<string, readonly string[]>> = {
    "jupyterhub-idle-culler": ["list:users", "read:users:activity", "read:servers", "delete:servers", "admin:users"],
};

/**
 * Scopes that only read or identify (JupyterHub 5.5.0 scopes.py): nothing of another user's server,
 * tokens, authentication state, group membership or the hub itself. Everything else (access:servers,
 * access:services, admin:*, admin-ui, tokens, servers, users, groups, shares, proxy, shutdown,
 * inherit...) reaches other users unless filtered to the grantee's own.
 */
export const harmless = (base: string) => base === "self" || base === "(no_scope)" || base === "users:activity" || /^(read|list):/.test(base) || base.startsWith("custom:");

/** Problems of JupyterHub role definitions (load_roles entries), each as [path, role]. */
function roleProblems(roles: Array<[string, any]>, d: Deferrals): string[] {
    const out: string[] = [];
    for (const [path, role] of roles) {
        if (role === UNKNOWN) { d.defer(`values.${path}`); continue; }
        if (!role || typeof role !== "object") continue;
        const fields = ["name", "scopes", "users", "groups", "services"] as const;
        const unknown = fields.filter((k) => role[k] === UNKNOWN || (Array.isArray(role[k]) && role[k].includes(UNKNOWN)));
        if (unknown.length) { unknown.forEach((k) => d.defer(`values.${path}.${k}`)); continue; }
        const name = String(role.name ?? "");
        const scopes = asArray(role.scopes as string[]).map(String);
        const users = asArray(role.users as string[]).map(String);
        const groups = asArray(role.groups as string[]).map(String);
        const services = asArray(role.services as string[]).map(String);
        // Default roles (roles.py get_default_roles) redefined: `user` is every user's, `server` every server
        // token's (JUPYTERHUB_API_TOKEN), `token` every token's; `admin` holds access:servers whatever is listed.
        const everyone = ({ user: "every user", server: "every server's token", token: "every token" } as Record<string, string>)[name];
        if (name === "admin" && (users.length || groups.length || services.length)) {
            out.push(`${path} assigns JupyterHub's admin role (access:servers, tokens, admin:users) to ${[...users, ...groups.map((g) => `group ${g}`), ...services.map((x) => `service ${x}`)].join(", ")}`);
            continue;
        }
        const ownOnly = (scope: string, who: { users: string[]; groups: string[]; everyone?: string }) => {
            const [base, filter] = scope.split("!");
            if (harmless(base)) return true;
            if (filter === "user" || filter === "server") return true; // the holder's own (roles.py: `access:servers!server`, `users:activity!user`)
            const m = /^(user|server)=([^/]+)/.exec(filter ?? "");
            return !!m && !who.everyone && who.groups.length === 0 && who.users.length > 0 && who.users.every((u) => u === m[2]);
        };
        const people = { users, groups, ...(everyone ? { everyone } : {}) };
        if (users.length || groups.length || everyone) {
            const wide = scopes.filter((sc) => !ownOnly(sc, people));
            if (wide.length) out.push(`${path} grants ${wide.join(", ")} to ${everyone ?? [...users, ...groups.map((g) => `group ${g}`)].join(", ")}: these reach other researchers' servers, tokens or the hub (JupyterHub scopes.py); grant researchers nothing beyond their own (self)`);
        }
        for (const svc of services) {
            const chart = CHART_SERVICE_SCOPES[svc];
            const wide = scopes.filter((sc) => !(chart ? chart.includes(sc) : ownOnly(sc, { users: [], groups: [] })));
            if (wide.length) out.push(`${path} grants ${wide.join(", ")} to service ${svc}${chart ? `, beyond what the chart gives it (${chart.join(", ")})` : ", which the chart does not need"}: its token would reach every researcher's server or the hub`);
        }
    }
    return out;
}

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
        description: "Checks whether a JupyterHub release authenticates each researcher with an allow-listed per-person login (generic-oauth; no dummy, null, PAM or shared-password authenticator, no allow_all), makes no one an admin and grants no role that reaches other users' servers or tokens (admin_users, admin_groups, loadRoles), runs no configuration the pack cannot read (hub.extraConfig, hub.args, config files), runs single-user servers as non-root without privilege escalation behind their NetworkPolicy (no metadata service), named jupyter-<id> in the hub's namespace (the name and place the cluster's guards hold), pins their images by digest, and keeps the proxy off the internet unless source ranges restrict it.",
        enforcementLevel: "mandatory",
        configSchema: {
            properties: {
                ...BREADTH_SCHEMA,
                allowedAuthenticators: {
                    type: "array", items: { type: "string" }, default: DEFAULT_AUTHENTICATORS,
                    description: "JupyterHub authenticator_class values allowed: entry-point names (compared case-insensitively, as JupyterHub's EntryPointType does) or full class paths.",
                },
            },
        },
        validateResource: onType(RELEASE, "Helm release", (r, args, report, d) => {
            const chart = d.read("chart", () => r.chart);
            if (chart === UNKNOWN || !isJupyterHub(chart)) return;
            const v = snapshot(() => r.values);
            if (v === UNKNOWN) { d.defer("values"); return; }
            const problems: string[] = [];
            const need = (path: string) => { const x = at(v, path); if (x === UNKNOWN) d.defer(`values.${path}`); return x; };
            // Chart 4.4.0 values.yaml: hub.config.JupyterHub.authenticator_class defaults to "dummy".
            const allowed = args.getConfig<Partial<HubConfig>>().allowedAuthenticators ?? DEFAULT_AUTHENTICATORS;
            const auth = need("hub.config.JupyterHub.authenticator_class");
            if (auth !== UNKNOWN) {
                if (auth === undefined || auth === null || auth === "") problems.push("hub.config.JupyterHub.authenticator_class is unset, so the chart's default 'dummy' lets anyone in with any password");
                else if (!authenticatorAllowed(String(auth), allowed)) problems.push(`hub.config.JupyterHub.authenticator_class is '${auth}'${KNOWN_WEAK[String(auth).toLowerCase()] ? `, ${KNOWN_WEAK[String(auth).toLowerCase()]}` : ""}; only per-person logins are allowed (allowedAuthenticators: ${allowed.join(", ")})`);
            }
            const config = need("hub.config");
            if (config && config !== UNKNOWN && typeof config === "object") {
                for (const [section, settings] of Object.entries(config as Record<string, any>)) {
                    if (settings === UNKNOWN) { d.defer(`values.hub.config.${section}`); continue; }
                    if (!settings || typeof settings !== "object") continue;
                    const setting = (k: string) => { const x = settings[k]; if (x === UNKNOWN) d.defer(`values.hub.config.${section}.${k}`); return x; };
                    if (setting("allow_all") === true) problems.push(`hub.config.${section}.allow_all is true: anyone the identity provider knows could log in, not only the researchers`);
                    if (section === "DummyAuthenticator" && settings.password !== undefined) problems.push("hub.config.DummyAuthenticator.password sets a shared password");
                    // JupyterHub 5.5.0 roles.py: the `admin` role (admin_users, and admin_groups in oauthenticator) holds
                    // access:servers, tokens and admin:users: an admin opens every researcher's server.
                    for (const k of ["admin_users", "admin_groups"]) {
                        const list = setting(k);
                        if (list !== UNKNOWN && nonEmpty(list)) problems.push(`hub.config.${section}.${k} is ${JSON.stringify(list)}: JupyterHub's admin role holds access:servers and tokens (roles.py), so an admin opens every researcher's server; leave it empty and administer through the cluster`);
                    }
                    // Authenticator.manage_roles (JupyterHub 5): roles come from the identity provider, which the pack cannot see.
                    if (setting("manage_roles") === true) problems.push(`hub.config.${section}.manage_roles is true: the identity provider would assign JupyterHub roles (access:servers, admin) that this pack cannot judge`);
                    if (section === "JupyterHub") {
                        const roles = setting("load_roles");
                        if (roles !== UNKNOWN && roles !== undefined && roles !== null) problems.push(...roleProblems(asArray(roles as any[]).map((r, i) => [`hub.config.JupyterHub.load_roles[${i}]`, r] as [string, any]), d));
                    }
                }
            }
            // hub.extraConfig is Python the hub executes after hub.config (z2jh 4.4.0 files/hub/jupyterhub_config.py:
            // `exec(config_py)`): it can set the authenticator, admins and roles past every check here.
            const extra = need("hub.extraConfig");
            if (extra !== UNKNOWN && extra && typeof extra === "object") {
                for (const [k, py] of Object.entries(extra as Record<string, unknown>)) {
                    if (py === UNKNOWN) d.defer(`values.hub.extraConfig.${k}`);
                    else if (typeof py === "string" ? py.trim() !== "" : py !== null && py !== undefined) problems.push(`hub.extraConfig.${k} is Python the hub runs (it can set the authenticator, admin users and roles past these checks); put settings in hub.config, which this pack judges`);
                }
            }
            // Other ways to run configuration the pack cannot read: hub.args replaces `jupyterhub --config ...`
            // (templates/hub/deployment.yaml), and *.py files in /usr/local/etc/jupyterhub/jupyterhub_config.d are exec'd.
            for (const k of ["hub.args", "hub.command"]) {
                const x = need(k);
                if (x !== UNKNOWN && nonEmpty(x)) problems.push(`${k} is set: it replaces the chart's hub command line, where flags can set any JupyterHub setting past hub.config`);
            }
            const files = need("hub.extraFiles");
            if (files !== UNKNOWN && files && typeof files === "object") {
                for (const [k, f] of Object.entries(files as Record<string, any>)) {
                    const mount = f === UNKNOWN ? UNKNOWN : at(f, "mountPath");
                    if (mount === UNKNOWN) d.defer(`values.hub.extraFiles.${k}.mountPath`);
                    else if (typeof mount === "string" && mount.startsWith(HUB_CONFIG_DIR)) problems.push(`hub.extraFiles.${k} is mounted at ${mount}, in the hub's configuration directory (jupyterhub_config.d/*.py is executed)`);
                }
            }
            const mounts = need("hub.extraVolumeMounts");
            if (mounts !== UNKNOWN) asArray(mounts as any[]).forEach((m: any, i: number) => {
                const mount = m === UNKNOWN ? UNKNOWN : at(m, "mountPath");
                if (mount === UNKNOWN) d.defer(`values.hub.extraVolumeMounts[${i}].mountPath`);
                else if (typeof mount === "string" && mount.startsWith(HUB_CONFIG_DIR)) problems.push(`hub.extraVolumeMounts[${i}] is mounted at ${mount}, in the hub's configuration directory (jupyterhub_config.d/*.py is executed)`);
            });
            // hub.loadRoles (z2jh: appended to c.JupyterHub.load_roles, named by key unless `name` is given).
            const loadRoles = need("hub.loadRoles");
            if (loadRoles !== UNKNOWN && loadRoles && typeof loadRoles === "object") {
                problems.push(...roleProblems(Object.entries(loadRoles as Record<string, any>).map(([k, r]) => [`hub.loadRoles.${k}`, r === UNKNOWN || !r || typeof r !== "object" || r.name !== undefined ? r : { ...r, name: k }] as [string, any]), d));
            }
            const services = need("hub.services");
            if (services !== UNKNOWN && services && typeof services === "object") {
                for (const [k, svc] of Object.entries(services as Record<string, any>)) {
                    const admin = svc === UNKNOWN ? UNKNOWN : at(svc, "admin");
                    if (admin === UNKNOWN) d.defer(`values.hub.services.${k}.admin`);
                    else if (admin === true) problems.push(`hub.services.${k}.admin is true: the service's token would hold the admin role (access:servers, tokens)`);
                }
            }
            const uid = need("singleuser.uid");
            if (uid === 0 || uid === "0") problems.push("singleuser.uid is 0 (root)");
            if (need("singleuser.allowPrivilegeEscalation") === true) problems.push("singleuser.allowPrivilegeEscalation is true");
            // The servers' NetworkPolicy (z2jh 4.4.0 values.yaml singleuser.networkPolicy: enabled, egressAllowRules
            // cloudMetadataServer false) keeps a server from the node's metadata service (with the nodes' hop limit 1),
            // since the chart's iptables init container is privileged and baseline Pod Security refuses it.
            if (need("singleuser.networkPolicy.enabled") === false) problems.push("singleuser.networkPolicy.enabled is false: servers would reach the metadata service and every pod unhindered");
            if (need("singleuser.networkPolicy.egressAllowRules.cloudMetadataServer") === true) problems.push("singleuser.networkPolicy.egressAllowRules.cloudMetadataServer is true: servers would reach the instance metadata service");
            const profiles = need("singleuser.profileList");
            if (profiles !== UNKNOWN) asArray(profiles).forEach((p: any, i: number) => {
                const o = p === UNKNOWN ? UNKNOWN : at(p, "kubespawner_override");
                if (o === UNKNOWN) { d.defer(`values.singleuser.profileList[${i}]`); return; }
                if (o?.uid === 0 || o?.uid === "0") problems.push(`singleuser.profileList[${i}].kubespawner_override.uid is 0 (root)`);
                if (o?.allow_privilege_escalation === true || o?.privileged === true) problems.push(`singleuser.profileList[${i}].kubespawner_override escalates privileges`);
            });
            // Where each server runs and what it is called. The cluster's guards name a researcher's server jupyter-<id> in the
            // hub's namespace: their hub Role (get and port-forward by resourceNames), the port-forward and budget-stop admission
            // policies (k8s-port-forward-own-server, k8s-budget-stop-holds-server). KubeSpawner's pod_name_template defaults to
            // 'jupyter-{user_server}', and z2jh 4.4.0 sets KubeSpawner.namespace to the hub's own (files/hub/jupyterhub_config.py;
            // singleuser.podNameTemplate passes through to pod_name_template). A server named otherwise starts through a budget
            // stop; one in a namespace of its own (enable_user_namespaces) is outside every guard bound to the hub's.
            const hubNamespace = known(() => r.namespace);
            const placement = (path: string, o: any) => {
                if (!o || typeof o !== "object") return;
                for (const k of ["pod_name_template", "namespace", "enable_user_namespaces"]) {
                    const x = o[k];
                    if (x === UNKNOWN) { d.defer(`values.${path}.${k}`); continue; }
                    if (x === undefined || x === null) continue;
                    if (k === "pod_name_template" && x !== SERVER_POD_TEMPLATE) problems.push(`${path}.pod_name_template is '${x}': the cluster's guards know a researcher's server as ${SERVER_POD_TEMPLATE.replace("{user_server}", "<id>")} (a server named otherwise starts through a budget stop); leave KubeSpawner's default`);
                    if (k === "namespace" && hubNamespace !== UNKNOWN && x !== (hubNamespace ?? "default")) problems.push(`${path}.namespace is '${x}': servers would run outside the hub's namespace, where the port-forward and budget-stop admission policies are bound`);
                    if (k === "enable_user_namespaces" && x === true) problems.push(`${path}.enable_user_namespaces is true: each server would run in a namespace of its own, outside the guards bound to the hub's`);
                }
            };
            const podName = need("singleuser.podNameTemplate");
            if (podName !== UNKNOWN) placement("singleuser", { pod_name_template: podName });
            if (config && config !== UNKNOWN && typeof config === "object") {
                // Any section: traitlets applies a section to every class whose MRO names it (Spawner as well as KubeSpawner).
                for (const [section, settings] of Object.entries(config as Record<string, any>)) if (settings !== UNKNOWN) placement(`hub.config.${section}`, settings);
            }
            if (profiles !== UNKNOWN) asArray(profiles).forEach((p: any, i: number) => {
                if (p === UNKNOWN || !p || typeof p !== "object") return;
                placement(`singleuser.profileList[${i}].kubespawner_override`, p.kubespawner_override);
                const options = p.profile_options;
                if (options === UNKNOWN) { d.defer(`values.singleuser.profileList[${i}].profile_options`); return; }
                for (const [on, opt] of Object.entries((options ?? {}) as Record<string, any>)) {
                    const choices = opt === UNKNOWN ? UNKNOWN : opt?.choices;
                    if (choices === UNKNOWN) { d.defer(`values.singleuser.profileList[${i}].profile_options.${on}.choices`); continue; }
                    for (const [cn, choice] of Object.entries((choices ?? {}) as Record<string, any>)) {
                        if (choice === UNKNOWN) { d.defer(`values.singleuser.profileList[${i}].profile_options.${on}.choices.${cn}`); continue; }
                        placement(`singleuser.profileList[${i}].profile_options.${on}.choices.${cn}.kubespawner_override`, choice?.kubespawner_override);
                    }
                }
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
        description: "Checks whether Cognito user pools require TOTP MFA of every user (mfaConfiguration ON; OPTIONAL lets a researcher skip it) and allow no self sign-up, and app clients with a secret keep it a secret output.",
        enforcementLevel: "mandatory",
        validateResource: anyOf(
            onType("aws:cognito/userPool:UserPool", "Cognito user pool", (p, args, report) => {
                const problems: string[] = [];
                // Cognito UserPool MfaConfiguration: OFF | ON | OPTIONAL; OPTIONAL leaves MFA to each user, who may never set it up.
                if (p.mfaConfiguration !== "ON") problems.push(`mfaConfiguration must be "ON" (OPTIONAL lets a researcher sign in without MFA), found ${p.mfaConfiguration ?? "unset (OFF)"}`);
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
        ),
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
        description: "Checks whether a JupyterHub release's single-user images are this stack's ECR image, and its namespace and every researcher's namespace have a ResourceQuota on requests.nvidia.com/gpu (none on limits.nvidia.com/gpu, which Kubernetes does not count).",
        enforcementLevel: "mandatory",
        configSchema: { properties: { researcherNamespacePrefix: { type: "string", default: "researcher-", description: "A researcher's own namespace is <prefix><id>." } } },
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
            // A researcher's own namespace (their GPU Jobs) has its quota too. Kubernetes counts an extended resource only as
            // requests.<name> (same page: "only quota items with prefix `requests.` is allowed for now"; the quota evaluator's
            // isExtendedResourceNameForQuota matches requests.* only),
            // so a quota on limits.nvidia.com/gpu holds nothing back.
            const prefix = args.getConfig<{ researcherNamespacePrefix?: string }>().researcherNamespacePrefix ?? "researcher-";
            for (const x of quotas) {
                const lim = get(() => x.q.props.spec?.hard?.["limits.nvidia.com/gpu"]);
                if (lim === UNKNOWN) d.defer(`${label(x.q)}.spec.hard`);
                else if (lim !== undefined && lim !== null && (x.gpu === undefined || x.gpu === null)) report(`${label(x.q)} sets spec.hard["limits.nvidia.com/gpu"], which Kubernetes does not count (an extended resource takes quota only as requests.<name>); set requests.nvidia.com/gpu.`, x.q.urn);
            }
            for (const n of args.resources.filter((x) => x.type === "kubernetes:core/v1:Namespace")) {
                const name = get(() => n.props.metadata?.name);
                if (name === UNKNOWN) { d.defer(`${label(n)}.metadata.name`); continue; }
                if (typeof name !== "string" || !name.startsWith(prefix)) continue;
                if (quotas.some((x) => x.ns === UNKNOWN || x.gpu === UNKNOWN)) { d.defer(`${label(n)} quota`); continue; }
                if (!quotas.some((x) => x.ns === name && x.gpu !== undefined && x.gpu !== null)) report(`${label(n)} is a researcher's namespace with no ResourceQuota on spec.hard["requests.nvidia.com/gpu"]: their Jobs could take every GPU the pools allow.`, n.urn);
            }
        }),
    },
];
