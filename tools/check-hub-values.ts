/**
 * Checks the JupyterHub values this stack renders against the Zero to JupyterHub chart's own schema:
 *   npx tsx tools/check-hub-values.ts <chart dir holding values.yaml and values.schema.yaml>
 * e.g. a checkout of jupyterhub/zero-to-jupyterhub-k8s at tag 4.4.0, directory jupyterhub/. The values
 * are merged over the chart's defaults the way Helm does (maps merge, lists and scalars replace) and
 * validated with ajv, as `helm install` validates values.schema.json. Needs the chart (not in this
 * repository); the README and the closing note record the result for the pinned version.
 */
import * as fs from "fs";
import * as path from "path";
import type AjvType from "ajv";
import * as YAML from "yaml";

/** Helm's coalescing of user values over chart defaults. */
export function helmMerge(defaults: unknown, values: unknown): unknown {
    if (values === null) return undefined;
    if (values && typeof values === "object" && !Array.isArray(values) && defaults && typeof defaults === "object" && !Array.isArray(defaults)) {
        const out: Record<string, unknown> = { ...(defaults as Record<string, unknown>) };
        for (const [k, v] of Object.entries(values as Record<string, unknown>)) out[k] = helmMerge(out[k], v);
        return out;
    }
    return values === undefined ? defaults : values;
}

/** Values for every shape the stack renders: Cognito, OIDC, port-forward access and a TLS load balancer, culling on and off. */
export function sampleValues() {
    // Required here, not imported: the cluster module loads the Pulumi SDKs, which --help must not wait for.
    const { jupyterhubValues } = require("../infra/cluster/manifests") as typeof import("../infra/cluster/manifests");
    const base = {
        image: { name: "123456789012.dkr.ecr.us-west-2.amazonaws.com/archaeo/x/y/pytorch-cuda", tag: `ctx-0123456789abcdef@sha256:${"a".repeat(64)}` },
        researcherIds: ["alice", "bob"],
        auth: { authorizeUrl: "https://x.auth.us-west-2.amazoncognito.com/oauth2/authorize", tokenUrl: "https://x/token", userdataUrl: "https://x/userInfo", usernameClaim: "username", clientId: "abc", loginService: "x" },
        publicUrl: "http://localhost:8000",
        cullMinutes: 60, gpusPerResearcher: 4, memoryGiB: 16, vcpus: 4,
        env: { ARCHAEO_IMAGE: "x", AWS_REGION: "us-west-2" },
    };
    return [
        jupyterhubValues(base),
        jupyterhubValues({ ...base, cullMinutes: 0, gpusPerResearcher: 1, publicUrl: "https://hub.example.org", exposed: { acmCertificateArn: "arn:aws:acm:us-west-2:1:certificate/x", sourceRanges: ["203.0.113.0/24"] } }),
    ].map((v) => ({ ...v, hub: { ...v.hub, config: { ...v.hub.config, GenericOAuthenticator: { ...v.hub.config.GenericOAuthenticator, client_secret: "s" } } } }));
}

export function checkAgainstChart(chartDir: string): string[] {
    const schema = YAML.parse(fs.readFileSync(path.join(chartDir, "values.schema.yaml"), "utf8"));
    const defaults = YAML.parse(fs.readFileSync(path.join(chartDir, "values.yaml"), "utf8"));
    const Ajv = (require("ajv") as { default: typeof AjvType }).default;
    const ajv = new Ajv({ strict: false, allErrors: true });
    const validate = ajv.compile(schema);
    const errors: string[] = [];
    sampleValues().forEach((v, i) => {
        if (!validate(helmMerge(defaults, v))) for (const e of validate.errors ?? []) errors.push(`sample ${i}: ${e.instancePath} ${e.message} ${JSON.stringify(e.params)}`);
    });
    // The hub tunnel image is the chart's own proxy image (images/hub-tunnel/Dockerfile FROM).
    const chp = defaults?.proxy?.chp?.image;
    const from = hubTunnelBase();
    if (from !== `${chp?.name}:${chp?.tag}`) errors.push(`images/hub-tunnel/Dockerfile FROM ${from}, the chart's proxy runs ${chp?.name}:${chp?.tag}`);
    return errors;
}

/** The base image of images/hub-tunnel (its one FROM). */
export function hubTunnelBase(): string {
    const lines = fs.readFileSync(path.join(__dirname, "..", "images", "hub-tunnel", "Dockerfile"), "utf8").split("\n").filter((l) => /^FROM\s/i.test(l));
    if (lines.length !== 1) throw new Error("images/hub-tunnel/Dockerfile: expected exactly one FROM");
    return lines[0].trim().split(/\s+/)[1];
}

export const USAGE = `usage: npx tsx tools/check-hub-values.ts <chart dir>

Validates the JupyterHub values this stack renders (every shape: Cognito, OIDC, port-forward and TLS load
balancer, culling on and off) against the Zero to JupyterHub chart's values.schema.yaml, merged over the
chart's values.yaml as Helm merges them, and checks the hub tunnel image is the chart's proxy image.
<chart dir> holds values.yaml and values.schema.yaml, e.g. a checkout of jupyterhub/zero-to-jupyterhub-k8s
at the pinned tag, directory jupyterhub/.

  --help, -h   this text

Exit: 0 valid, 1 errors (listed), 2 usage.`;

if (require.main === module) {
    const dir = process.argv[2];
    if (dir === "--help" || dir === "-h") { console.log(USAGE); process.exit(0); }
    if (!dir) { console.error(USAGE.split("\n")[0]); process.exit(2); }
    if (!fs.existsSync(path.join(dir, "values.schema.yaml"))) { console.error(`check-hub-values: ${dir} has no values.schema.yaml\n${USAGE.split("\n")[0]}`); process.exit(2); }
    const errors = checkAgainstChart(dir);
    for (const e of errors) console.log(e);
    console.log(errors.length ? `FAILED: ${errors.length} error(s)` : "OK: the values validate against the chart's values.schema.yaml, and the hub tunnel runs the chart's proxy image");
    process.exitCode = errors.length ? 1 : 0;
}
