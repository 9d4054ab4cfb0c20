import { strict as assert } from "assert";
import { CONFIG_KEYS } from "../../infra/config";
import { clusterOverrides, parse, refuses } from "../helpers/config";

const OIDC = {
    clusterAuth: "oidc", oidcAuthorizeUrl: "https://login.example.org/auth", oidcTokenUrl: "https://login.example.org/token",
    oidcUserinfoUrl: "https://login.example.org/userinfo", oidcClientId: "jupyterhub", oidcClientSecret: "s3cret", oidcUsernameClaim: "upn",
};

describe("config: cluster mode", () => {
    it("accepts cluster mode with an admin and applies its defaults", () => {
        const cfg = parse(clusterOverrides());
        assert.ok(cfg.mode === "cluster");
        const c = cfg.cluster;
        assert.equal(c.kubernetesVersion, "1.35");
        assert.deepEqual([...c.gpuFamilies], ["g5", "g6"]);
        assert.equal(c.gpuLimit, 4);
        assert.equal(c.gpusPerResearcher, 2);
        assert.equal(c.spotForBatch, false);
        assert.equal(c.auth.kind, "cognito");
        assert.equal(c.hub, undefined);
        assert.deepEqual(c.ddp, { nodes: 2, gpusPerNode: 1 });
    });

    it("OIDC login: the three endpoints, the client id and a secret client secret", () => {
        const cfg = parse(clusterOverrides(OIDC));
        assert.ok(cfg.mode === "cluster" && cfg.cluster.auth.kind === "oidc");
        assert.equal(cfg.cluster.auth.tokenUrl, "https://login.example.org/token");
        assert.equal(cfg.cluster.auth.usernameClaim, "upn");
        assert.equal((CONFIG_KEYS.oidcClientSecret as { secret?: boolean }).secret, true, "Pulumi refuses a plaintext stack value for a secret key");
    });

    it("cidr mode exposes the hub over TLS at its own name", () => {
        const cfg = parse(clusterOverrides({ accessMode: "cidr", accessCidrs: ["203.0.113.0/24"], hubHostname: "hub.example.org", acmCertificateArn: "arn:aws:acm:us-east-1:123456789012:certificate/12345678-1234-1234-1234-123456789012" }));
        assert.ok(cfg.mode === "cluster");
        assert.deepEqual(cfg.cluster.hub, { hostname: "hub.example.org", acmCertificateArn: "arn:aws:acm:us-east-1:123456789012:certificate/12345678-1234-1234-1234-123456789012" });
    });

    const cert = "arn:aws:acm:us-east-1:123456789012:certificate/12345678-1234-1234-1234-123456789012";
    const rules: Array<[string, Record<string, unknown>, string, RegExp]> = [
        ["no admins", { clusterAdminArns: [] }, "clusterAdminArns", /needs at least one IAM role or user ARN/],
        ["bad admin ARN", { clusterAdminArns: ["admins"] }, "clusterAdminArns[0]", /is not an IAM role or user ARN/],
        ["API open to the internet", { clusterApiCidrs: ["0.0.0.0/0"] }, "clusterApiCidrs[0]", /opens the Kubernetes API to the whole internet/],
        ["API open to a quarter of the internet", { clusterApiCidrs: ["64.0.0.0/2"] }, "clusterApiCidrs", /covers \d+ public IPv4 addresses/],
        ["unknown GPU family", { gpuFamilies: ["p5", "g5"] }, "gpuFamilies[0]", /'p5' is not a supported GPU family/],
        ["reference type outside the families", { gpuFamilies: ["g6"] }, "instanceType", /g5.xlarge .* is not in gpuFamilies g6/],
        ["unsupported Kubernetes version", { kubernetesVersion: "1.33" }, "kubernetesVersion", /must be one of 1.34 \| 1.35, got '1.33'/],
        ["a researcher may not have more GPUs than the cluster", { gpuLimit: 2, gpusPerResearcher: 4 }, "gpusPerResearcher", /is 4 but gpuLimit \(all GPUs\) is 2/],
        ["a DDP template that can never schedule", { ddpNodes: 3, ddpGpusPerNode: 1, gpusPerResearcher: 2 }, "ddpNodes", /asks for 3 x 1 GPUs, more than gpusPerResearcher \(2\)/],
        ["cidr exposure without a certificate", { accessMode: "cidr", accessCidrs: ["203.0.113.0/24"], hubHostname: "hub.example.org" }, "acmCertificateArn", /is required with accessMode cidr in cluster mode/],
        ["cidr exposure without a hostname", { accessMode: "cidr", accessCidrs: ["203.0.113.0/24"], acmCertificateArn: cert }, "hubHostname", /is required with accessMode cidr in cluster mode/],
        ["a certificate in ssm mode", { acmCertificateArn: cert }, "acmCertificateArn", /is only used with accessMode: cidr/],
        ["OIDC without its endpoints", { ...OIDC, oidcTokenUrl: undefined }, "oidcTokenUrl", /is required with clusterAuth: oidc/],
        ["OIDC over plain HTTP", { ...OIDC, oidcAuthorizeUrl: "http://login.example.org/auth" }, "oidcAuthorizeUrl", /must be an https:\/\/ URL/],
        ["OIDC without a client secret", { ...OIDC, oidcClientSecret: undefined }, "oidcClientSecret", /set it with 'pulumi config set --secret oidcClientSecret/],
        ["OIDC without naming the username claim (no editable default)", { ...OIDC, oidcUsernameClaim: undefined }, "oidcUsernameClaim", /is required with clusterAuth: oidc: .* users cannot change/],
        ["OIDC keys with Cognito", { oidcClientId: "x" }, "oidcClientId", /is only used with clusterAuth: oidc/],
        ["VPC too small for pods", { vpcCidr: "10.1.0.0/22" }, "vpcCidr", /from \/16 to \/20 in cluster mode/],
        ["GPU limit out of range", { gpuLimit: 0 }, "gpuLimit", /must be 1-64 GPUs, got 0/],
        ["an instance-mode key", { rootVolumeSizeGiB: 300 }, "rootVolumeSizeGiB", /is only used in instance mode; remove it, or set mode: instance/],
    ];
    for (const [title, overrides, key, reason] of rules) it(`refuses: ${title}`, () => refuses(clusterOverrides(overrides), key, reason));

    it("project defaults passed as engine strings do not count as keys of the other mode", () => {
        assert.doesNotThrow(() => parse({ gpuFamilies: JSON.stringify(["g5", "g6"]), gpuLimit: "4", spotForBatch: "false", kubernetesVersion: "1.35", clusterAdminArns: "[]", clusterAuth: "cognito" }));
        assert.doesNotThrow(() => parse(clusterOverrides({ rootVolumeSizeGiB: "150", workspaceSizeGiB: "500" })));
    });
});
