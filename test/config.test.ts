import { strict as assert } from "assert";
import fc from "fast-check";
import { checkSshPublicKey, ConfigError, parseConfig, parseCidr, CONFIG_KEYS } from "../infra/config";
import { GPU_INSTANCE_TYPES } from "../infra/data/gpus";
import { readStack } from "../tools/stacks";

const base = readStack("example");
const ED25519 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDXGaKRpRrSjE+CE3c7Xrij0WQHqtf6/5mjNpauIw/Gy a@b";

function parse(overrides: Record<string, unknown>, region: string | undefined = base.region) {
    const raw: Record<string, unknown> = { ...base.raw };
    for (const [k, v] of Object.entries(overrides)) {
        const key = `archaeo-workbench:${k}`;
        if (v === undefined) delete raw[key];
        else raw[key] = v;
    }
    return parseConfig(raw, { stack: "example", region });
}

function problems(overrides: Record<string, unknown>, region?: string): Record<string, string> {
    try {
        parse(overrides, region);
    } catch (e) {
        assert.ok(e instanceof ConfigError, `expected ConfigError, got ${e}`);
        return Object.fromEntries(e.errors.map((p) => [p.propertyPath, p.reason]));
    }
    return {};
}

describe("config: parseConfig", () => {
    it("accepts the example stack and freezes the result", () => {
        const cfg = parse({});
        assert.equal(cfg.institution, "example-lab");
        assert.equal(cfg.instanceType, "g5.xlarge");
        assert.equal(cfg.gpu.gpus, 1);
        assert.equal(cfg.access.mode, "ssm");
        assert.ok(Object.isFrozen(cfg) && Object.isFrozen(cfg.access) && Object.isFrozen(cfg.sshPublicKeys));
        assert.throws(() => { (cfg as any).instanceType = "p5.48xlarge"; }, TypeError);
    });

    it("applies the documented defaults when keys are absent", () => {
        const cfg = parse({ instanceType: undefined, workspaceSizeGiB: undefined, autoStopIdleMinutes: undefined, accessMode: undefined, accessCidrs: undefined, protectData: undefined, availabilityZone: undefined });
        assert.equal(cfg.instanceType, CONFIG_KEYS.instanceType.default);
        assert.equal(cfg.workspaceSizeGiB, CONFIG_KEYS.workspaceSizeGiB.default);
        assert.equal(cfg.autoStop.idleMinutes, 60);
        assert.equal(cfg.access.mode, "ssm");
        assert.equal(cfg.protectData, true);
        assert.equal(cfg.availabilityZone, "us-east-1a");
    });

    it("accepts engine-style string values (numbers, booleans, JSON arrays)", () => {
        const cfg = parse({ workspaceSizeGiB: "750", protectData: "false", sshPublicKeys: JSON.stringify([ED25519]) });
        assert.equal(cfg.workspaceSizeGiB, 750);
        assert.equal(cfg.protectData, false);
        assert.deepEqual([...cfg.sshPublicKeys], [ED25519]);
    });

    const rules: Array<[string, Record<string, unknown>, string, RegExp]> = [
        ["missing institution", { institution: undefined }, "archaeo-workbench:institution", /is required; run 'pulumi config set institution/],
        ["bad institution slug", { institution: "Bristol_Lab" }, "archaeo-workbench:institution", /must be 3-24 chars of a-z, 0-9 and '-'/],
        ["unknown data classification", { dataClassification: "secret" }, "archaeo-workbench:dataClassification", /must be one of public \| internal \| confidential \| restricted, got 'secret'/],
        ["cluster mode without admins", { mode: "cluster" }, "archaeo-workbench:clusterAdminArns", /needs at least one IAM role or user ARN/],
        ["cluster key in instance mode", { gpuLimit: 16 }, "archaeo-workbench:gpuLimit", /is only used in cluster mode; remove it, or set mode: cluster/],
        ["t3.micro has no GPU", { instanceType: "t3.micro" }, "archaeo-workbench:instanceType", /t3.micro is not a supported GPU instance type .*; use one of g4dn.xlarge/],
        ["AZ outside region", { availabilityZone: "eu-west-1a" }, "archaeo-workbench:availabilityZone", /'eu-west-1a' is not an AZ of us-east-1; use e.g. us-east-1a/],
        ["workspace too small", { workspaceSizeGiB: 10 }, "archaeo-workbench:workspaceSizeGiB", /must be 50-16384 GiB, got 10/],
        ["workspace not a number", { workspaceSizeGiB: "lots" }, "archaeo-workbench:workspaceSizeGiB", /must be a whole number GiB, got "lots"/],
        ["root volume too small", { rootVolumeSizeGiB: 40 }, "archaeo-workbench:rootVolumeSizeGiB", /must be 100-2000 GiB, got 40/],
        ["snapshot retention zero", { snapshotRetentionDays: 0 }, "archaeo-workbench:snapshotRetentionDays", /must be 1-365 days, got 0/],
        ["bad access mode", { accessMode: "public" }, "archaeo-workbench:accessMode", /must be one of ssm \| cidr, got 'public'/],
        ["cidr mode without CIDRs", { accessMode: "cidr", accessCidrs: [] }, "archaeo-workbench:accessCidrs", /is empty but accessMode is cidr/],
        ["CIDRs in ssm mode", { accessCidrs: ["203.0.113.0/24"] }, "archaeo-workbench:accessCidrs", /is only used with accessMode: cidr/],
        ["0.0.0.0/0 refused", { accessMode: "cidr", accessCidrs: ["0.0.0.0/0"] }, "archaeo-workbench:accessCidrs[0]", /opens the workbench to the whole internet/],
        ["::/0 refused", { accessMode: "cidr", accessCidrs: ["203.0.113.0/24", "::/0"] }, "archaeo-workbench:accessCidrs[1]", /opens the workbench to the whole internet/],
        ["malformed CIDR", { accessMode: "cidr", accessCidrs: ["203.0.113.300/24"] }, "archaeo-workbench:accessCidrs[0]", /is not a valid CIDR/],
        ["CIDR host bits", { accessMode: "cidr", accessCidrs: ["203.0.113.7/24"] }, "archaeo-workbench:accessCidrs[0]", /has host bits set; did you mean 203.0.113.0\/24\?/],
        ["no SSH keys", { sshPublicKeys: [] }, "archaeo-workbench:sshPublicKeys", /needs at least one OpenSSH public key/],
        ["malformed SSH key", { sshPublicKeys: ["ssh-ed25519 not-base64!"] }, "archaeo-workbench:sshPublicKeys[0]", /has a body that is not base64/],
        ["SSH key type mismatch", { sshPublicKeys: [ED25519.replace("ssh-ed25519", "ecdsa-sha2-nistp256")] }, "archaeo-workbench:sshPublicKeys[0]", /says 'ecdsa-sha2-nistp256' but its body encodes 'ssh-ed25519'/],
        ["DSA key refused", { sshPublicKeys: ["ssh-dss AAAAB3NzaC1kc3MAAACB"] }, "archaeo-workbench:sshPublicKeys[0]", /has key type 'ssh-dss'/],
        ["auto-stop too short", { autoStopIdleMinutes: 5 }, "archaeo-workbench:autoStopIdleMinutes", /must be 0 \(disabled\) or 15-1440 minutes, got 5/],
        ["gpu idle percent over 100", { autoStopGpuUtilPercent: 150 }, "archaeo-workbench:autoStopGpuUtilPercent", /must be 0-100%, got 150/],
        ["budget zero", { budgetMonthlyUsd: 0 }, "archaeo-workbench:budgetMonthlyUsd", /must be 1-1000000 USD, got 0/],
        ["no budget e-mails", { budgetAlertEmails: [] }, "archaeo-workbench:budgetAlertEmails", /needs at least one e-mail address/],
        ["bad e-mail", { budgetAlertEmails: ["rc-team"] }, "archaeo-workbench:budgetAlertEmails[0]", /'rc-team' is not an e-mail address/],
        ["protectData not boolean", { protectData: "yes" }, "archaeo-workbench:protectData", /must be true or false, got "yes"/],
        ["KMS alias instead of ARN", { kmsKeyArn: "alias/archaeo" }, "archaeo-workbench:kmsKeyArn", /is not a KMS key ARN .*aliases are not accepted/],
        ["KMS key in another region", { kmsKeyArn: "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab" }, "archaeo-workbench:kmsKeyArn", /the key is in eu-west-1 but the stack is in us-east-1/],
        ["bad AMI id", { amiId: "ami-xyz" }, "archaeo-workbench:amiId", /is not an AMI id/],
        ["bad base digest", { baseImageDigest: "latest" }, "archaeo-workbench:baseImageDigest", /must look like sha256:<64 hex digits>/],
        ["VPC too large", { vpcCidr: "10.0.0.0/8" }, "archaeo-workbench:vpcCidr", /must be an IPv4 CIDR from \/16 to \/24/],
        ["unknown key with a hint", { instanceTyp: "g5.xlarge" }, "archaeo-workbench:instanceTyp", /is not a config key of this project; did you mean 'instanceType'\?/],
    ];
    for (const [title, overrides, key, reason] of rules) {
        it(`refuses: ${title}`, () => {
            const found = problems(overrides);
            assert.ok(key in found, `expected a problem at ${key}, got ${JSON.stringify(found)}`);
            assert.match(found[key], reason);
            assert.equal(Object.keys(found).length, 1, `only ${key} should be wrong: ${JSON.stringify(found)}`);
        });
    }

    it("refuses a missing or malformed aws:region", () => {
        assert.match(problems({}, "")["aws:region"], /is not set; run 'pulumi config set aws:region/);
        assert.match(problems({}, "mars-1")["aws:region"], /is not an AWS region name/);
    });

    it("reports every problem at once, in one message naming each key", () => {
        let err: ConfigError | undefined;
        try {
            parse({ instanceType: "t3.micro", accessMode: "cidr", accessCidrs: ["0.0.0.0/0"], budgetAlertEmails: [], workspaceSizeGiB: 1 });
        } catch (e) { err = e as ConfigError; }
        assert.ok(err, "expected a ConfigError");
        assert.deepEqual(err.errors.map((e) => e.propertyPath).sort(), [
            "archaeo-workbench:accessCidrs[0]",
            "archaeo-workbench:budgetAlertEmails",
            "archaeo-workbench:instanceType",
            "archaeo-workbench:workspaceSizeGiB",
        ]);
        assert.match(err.message, /^Invalid stack config \(4 problems\):\n  - archaeo-workbench:/);
    });

    it("property: the problems reported are exactly the keys that were broken", () => {
        const breakers: Record<string, unknown> = {
            institution: "X",
            dataClassification: "top-secret",
            instanceType: "m5.large",
            workspaceSizeGiB: 20000,
            rootVolumeSizeGiB: "big",
            snapshotRetentionDays: 0,
            autoStopIdleMinutes: 3,
            autoStopGpuUtilPercent: -1,
            budgetMonthlyUsd: 0,
            budgetAlertEmails: ["nobody"],
            protectData: "maybe",
            amiId: "ami-1",
            baseImageDigest: "sha256:abc",
            vpcCidr: "10.0.0.1/16",
            gpuLimit: 9,
        };
        const keyOf = (k: string, v: unknown) => (Array.isArray(v) ? `archaeo-workbench:${k}[0]` : `archaeo-workbench:${k}`);
        fc.assert(fc.property(fc.subarray(Object.keys(breakers)), (broken) => {
            const found = problems(Object.fromEntries(broken.map((k) => [k, breakers[k]])));
            assert.deepEqual(Object.keys(found).sort(), broken.map((k) => keyOf(k, breakers[k])).sort());
        }), { numRuns: 200 });
    });

    it("property: every valid combination parses and round-trips", () => {
        fc.assert(fc.property(
            fc.constantFrom(...Object.keys(GPU_INSTANCE_TYPES)),
            fc.integer({ min: 50, max: 16384 }),
            fc.integer({ min: 1, max: 365 }),
            fc.oneof(fc.constant(0), fc.integer({ min: 15, max: 1440 })),
            fc.array(fc.tuple(fc.integer({ min: 1, max: 223 }), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 8, max: 32 })), { minLength: 1, maxLength: 4 }),
            (instanceType, workspaceSizeGiB, snapshotRetentionDays, idle, nets) => {
                const cidrs = nets.map(([a, b, p]) => parseCidr(`${a}.${b}.0.0/${p}`)!.network);
                const cfg = parse({ instanceType, workspaceSizeGiB, snapshotRetentionDays, autoStopIdleMinutes: idle, accessMode: "cidr", accessCidrs: cidrs });
                assert.equal(cfg.instanceType, instanceType);
                assert.equal(cfg.gpu, GPU_INSTANCE_TYPES[instanceType]);
                assert.equal(cfg.workspaceSizeGiB, workspaceSizeGiB);
                assert.equal(cfg.autoStop.idleMinutes, idle);
                assert.deepEqual([...cfg.access.cidrs], cidrs);
            },
        ), { numRuns: 200 });
    });
});

describe("config: cluster mode", () => {
    const cluster = (o: Record<string, unknown> = {}) => ({ mode: "cluster", clusterAdminArns: ["arn:aws:iam::123456789012:role/admins"], ...o });

    it("accepts cluster mode with an admin and applies its defaults", () => {
        const cfg = parse(cluster());
        assert.deepEqual(
            [cfg.cluster!.kubernetesVersion, [...cfg.cluster!.gpuFamilies], cfg.cluster!.gpuLimit, cfg.cluster!.spotForBatch, cfg.cluster!.consolidateAfterMinutes, cfg.cluster!.ddp.nodes],
            ["1.35", ["g5", "g6"], 4, false, 10, 2],
        );
        assert.equal(parse({}).cluster, undefined);
    });

    const rules: Array<[string, Record<string, unknown>, string, RegExp]> = [
        ["bad admin ARN", cluster({ clusterAdminArns: ["admins"] }), "archaeo-workbench:clusterAdminArns[0]", /is not an IAM role or user ARN/],
        ["API open to the internet", cluster({ clusterApiCidrs: ["0.0.0.0/0"] }), "archaeo-workbench:clusterApiCidrs[0]", /opens the Kubernetes API to the internet/],
        ["unknown GPU family", cluster({ gpuFamilies: ["p5", "g5"] }), "archaeo-workbench:gpuFamilies[0]", /'p5' is not a supported GPU family/],
        ["reference type outside the families", cluster({ gpuFamilies: ["g6"] }), "archaeo-workbench:instanceType", /g5.xlarge .* is not in gpuFamilies g6/],
        ["unsupported Kubernetes version", cluster({ kubernetesVersion: "1.33" }), "archaeo-workbench:kubernetesVersion", /must be one of 1.34 \| 1.35, got '1.33'/],
        ["cidr exposure without TLS certificate", cluster({ accessMode: "cidr", accessCidrs: ["203.0.113.0/24"] }), "archaeo-workbench:acmCertificateArn", /is required with accessMode cidr in cluster mode/],
        ["VPC too small for pods", cluster({ vpcCidr: "10.1.0.0/22" }), "archaeo-workbench:vpcCidr", /too small for cluster mode/],
        ["GPU limit out of range", cluster({ gpuLimit: 0 }), "archaeo-workbench:gpuLimit", /must be 1-64, got 0/],
    ];
    for (const [title, overrides, key, reason] of rules) {
        it(`refuses: ${title}`, () => {
            const found = problems(overrides);
            assert.ok(key in found, `expected ${key}, got ${JSON.stringify(found)}`);
            assert.match(found[key], reason);
            assert.equal(Object.keys(found).length, 1, JSON.stringify(found));
        });
    }

    it("project defaults passed as engine strings do not count as cluster keys in instance mode", () => {
        assert.doesNotThrow(() => parse({ gpuFamilies: JSON.stringify(["g5", "g6"]), gpuLimit: "4", spotForBatch: "false", kubernetesVersion: "1.35", clusterAdminArns: "[]" }));
    });
});

describe("config: helpers", () => {
    it("parseCidr handles IPv4 and IPv6 networks and host bits", () => {
        assert.deepEqual(parseCidr("10.42.0.0/16"), { version: 4, prefix: 16, hostBitsSet: false, network: "10.42.0.0/16" });
        assert.equal(parseCidr("10.42.1.0/16")!.network, "10.42.0.0/16");
        assert.deepEqual(parseCidr("2001:db8:4d55::/48"), { version: 6, prefix: 48, hostBitsSet: false, network: "2001:db8:4d55::/48" });
        assert.equal(parseCidr("2001:db8::1/64")!.hostBitsSet, true);
        assert.equal(parseCidr("::/0")!.prefix, 0);
        for (const bad of ["10.0.0.0", "10.0.0.0/33", "1.2.3/8", "2001:db8:::/48", "gg::/16"]) assert.equal(parseCidr(bad), undefined, bad);
    });

    it("checkSshPublicKey accepts real keys and names what is wrong with others", () => {
        assert.equal(checkSshPublicKey(ED25519), undefined);
        assert.match(checkSshPublicKey("ssh-ed25519")!, /is not an OpenSSH public key line/);
        assert.match(checkSshPublicKey("ssh-ed25519 AAAA")!, /truncated|encodes/);
    });
});
