import { strict as assert } from "assert";
import fc from "fast-check";
import * as fs from "fs";
import * as path from "path";
import { CONFIG_KEYS, ConfigError, parseCidr, parseConfig, checkSshPublicKey, publicAddressCoverage } from "../../infra/config";
import { readStack } from "../../tools/stacks";
import { tmpFile } from "../helpers/tools";
import { GPU_INSTANCE_TYPES } from "../../infra/data/gpus";
import { ED25519, parse, problems, refuses } from "../helpers/config";

describe("config: parseConfig (stack keys)", () => {
    it("accepts the example stack, one researcher, and freezes the result", () => {
        const cfg = parse();
        assert.equal(cfg.mode, "instance");
        assert.equal(cfg.institution, "example-lab");
        assert.equal(cfg.researchers.length, 1);
        assert.equal(cfg.researchers[0].id, "alice");
        assert.ok(Object.isFrozen(cfg) && Object.isFrozen(cfg.researchers) && Object.isFrozen(cfg.researchers[0].sshPublicKeys));
        assert.throws(() => { (cfg as any).institution = "x"; }, TypeError);
    });

    it("applies the documented defaults when keys are absent", () => {
        const cfg = parse({ instanceType: undefined, workspaceSizeGiB: undefined, autoStopIdleMinutes: undefined, accessMode: undefined, accessCidrs: undefined, protectData: undefined, availabilityZone: undefined, imageRetentionDays: undefined });
        assert.equal(cfg.instanceType, CONFIG_KEYS.instanceType.default);
        assert.equal(cfg.mode === "instance" && cfg.researchers[0].workspaceSizeGiB, CONFIG_KEYS.workspaceSizeGiB.default);
        assert.equal(cfg.autoStop.idleMinutes, 60);
        assert.equal(cfg.autoStop.maxSessionHours, 0, "no maximum session unless set");
        assert.equal(cfg.access.mode, "ssm");
        assert.equal(cfg.protectData, true);
        assert.equal(cfg.availabilityZone, "us-east-1a");
        assert.equal(cfg.imageRetentionDays, 1825);
    });

    it("accepts engine-style string values (numbers, booleans, JSON lists and objects)", () => {
        const cfg = parse({ workspaceSizeGiB: "750", protectData: "false", researchers: JSON.stringify([{ id: "bo", iamPrincipalArn: "arn:aws:iam::123456789012:user/bo", sshPublicKeys: [ED25519] }]) });
        assert.equal(cfg.protectData, false);
        assert.equal(cfg.mode === "instance" && cfg.researchers[0].workspaceSizeGiB, 750);
        assert.equal(cfg.researchers[0].id, "bo");
    });

    const rules: Array<[string, Record<string, unknown>, string, RegExp]> = [
        ["missing institution", { institution: undefined }, "institution", /is required; run 'pulumi config set institution/],
        ["bad institution slug", { institution: "Bristol_Lab" }, "institution", /must be 3-24 chars of a-z, 0-9 and '-'/],
        ["unknown data classification", { dataClassification: "secret" }, "dataClassification", /must be one of public \| internal \| confidential \| restricted, got 'secret'/],
        ["t3.micro has no GPU", { instanceType: "t3.micro" }, "instanceType", /t3.micro is not a supported GPU instance type .*; use one of g4dn.xlarge/],
        ["AZ outside region", { availabilityZone: "eu-west-1a" }, "availabilityZone", /'eu-west-1a' is not an AZ of us-east-1; use e.g. us-east-1a/],
        ["workspace too small", { workspaceSizeGiB: 10 }, "workspaceSizeGiB", /must be 50-16384 GiB, got 10/],
        ["workspace not a number", { workspaceSizeGiB: "lots" }, "workspaceSizeGiB", /must be a whole number GiB, got "lots"/],
        ["root volume too small", { rootVolumeSizeGiB: 40 }, "rootVolumeSizeGiB", /must be 100-2000 GiB, got 40/],
        ["snapshot retention zero", { snapshotRetentionDays: 0 }, "snapshotRetentionDays", /must be 7-365 days, got 0/],
        ["bad access mode", { accessMode: "public" }, "accessMode", /must be one of ssm \| cidr, got 'public'/],
        ["cidr mode without CIDRs", { accessMode: "cidr", accessCidrs: [] }, "accessCidrs", /is empty but accessMode is cidr/],
        ["CIDRs in ssm mode", { accessCidrs: ["203.0.113.0/24"] }, "accessCidrs", /is only used with accessMode: cidr/],
        ["0.0.0.0/0 refused", { accessMode: "cidr", accessCidrs: ["0.0.0.0/0"] }, "accessCidrs[0]", /opens the workbench to the whole internet/],
        ["IPv6 refused: the VPC is IPv4-only", { accessMode: "cidr", accessCidrs: ["203.0.113.0/24", "2001:db8::/48"] }, "accessCidrs[1]", /is IPv6, but the workbench VPC is IPv4-only/],
        ["the internet in two halves", { accessMode: "cidr", accessCidrs: ["0.0.0.0/1", "128.0.0.0/1"] }, "accessCidrs", /covers \d+ public IPv4 addresses, more than accessCidrMaxAddresses \(65536\)/],
        ["a public /8 is too broad by default", { accessMode: "cidr", accessCidrs: ["44.0.0.0/8"] }, "accessCidrs", /covers 16777216 public IPv4 addresses/],
        ["malformed CIDR", { accessMode: "cidr", accessCidrs: ["203.0.113.300/24"] }, "accessCidrs[0]", /is not a valid CIDR/],
        ["CIDR host bits", { accessMode: "cidr", accessCidrs: ["203.0.113.7/24"] }, "accessCidrs[0]", /has host bits set; did you mean 203.0.113.0\/24\?/],
        ["auto-stop too short", { autoStopIdleMinutes: 5 }, "autoStopIdleMinutes", /must be 0 \(disabled\) or 15-1440 minutes, got 5/],
        ["gpu idle percent over 100", { autoStopGpuUtilPercent: 150 }, "autoStopGpuUtilPercent", /must be 0-100 %, got 150/],
        ["a one-hour maximum session (the warning comes an hour ahead)", { maxSessionHours: 1 }, "maxSessionHours", /must be 0 \(no maximum\) or 2-720 hours, got 1: the warning comes an hour before the stop/],
        ["a maximum session over 30 days", { maxSessionHours: 721 }, "maxSessionHours", /must be 0-720 hours, got 721/],
        ["budget zero", { budgetMonthlyUsd: 0 }, "budgetMonthlyUsd", /must be 1-1000000 USD, got 0/],
        ["no budget e-mails", { budgetAlertEmails: [] }, "budgetAlertEmails", /needs at least one e-mail address/],
        ["bad e-mail", { budgetAlertEmails: ["rc-team"] }, "budgetAlertEmails[0]", /'rc-team' is not an e-mail address/],
        ["protectData not boolean", { protectData: "yes" }, "protectData", /must be true or false, got "yes"/],
        ["KMS alias instead of ARN", { kmsKeyArn: "alias/archaeo" }, "kmsKeyArn", /is not a KMS key ARN .*aliases are not accepted/],
        ["KMS key in another region", { kmsKeyArn: "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab" }, "kmsKeyArn", /the key is in eu-west-1 but the stack is in us-east-1/],
        ["copy region without its key", { backupCopyRegion: "us-west-2" }, "backupCopyKmsKeyArn", /is required with backupCopyRegion/],
        ["copy key in another region than the copy", { backupCopyRegion: "us-west-2", backupCopyKmsKeyArn: "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab" }, "backupCopyKmsKeyArn", /the key is in eu-west-1 but backupCopyRegion is us-west-2/],
        ["copy to the stack's own region", { backupCopyRegion: "us-east-1", backupCopyKmsKeyArn: "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab" }, "backupCopyRegion", /is the stack's own region/],
        ["image retention too short to reproduce runs", { imageRetentionDays: 30 }, "imageRetentionDays", /must be 0 \(forever\) or 365-3650 days/],
        ["audit trail kept too briefly", { auditLogRetentionDays: 7 }, "auditLogRetentionDays", /must be 90-3650 days, got 7/],
        ["bad AMI id", { amiId: "ami-xyz" }, "amiId", /is not an AMI id/],
        ["bad base digest", { baseImageDigest: "latest" }, "baseImageDigest", /must look like sha256:<64 hex digits>/],
        ["VPC too large", { vpcCidr: "10.0.0.0/8" }, "vpcCidr", /must be an IPv4 CIDR from \/16 to \/24/],
        ["unknown key with a hint", { instanceTyp: "g5.xlarge" }, "instanceTyp", /is not a config key of this project; did you mean 'instanceType'\?/],
        ["the old top-level key says where it went", { sshPublicKeys: [ED25519] }, "sshPublicKeys", /moved into researchers\[\]\.sshPublicKeys/],
        ["a cluster key in instance mode", { gpuLimit: 16 }, "gpuLimit", /is only used in cluster mode; remove it, or set mode: cluster/],
    ];
    for (const [title, overrides, key, reason] of rules) it(`refuses: ${title}`, () => refuses(overrides, key, reason));

    it("refuses a missing or malformed aws:region", () => {
        assert.match(problems({}, "")["aws:region"], /is not set; run 'pulumi config set aws:region/);
        assert.match(problems({}, "mars-1")["aws:region"], /is not an AWS region name/);
    });

    it("reports a misspelt project prefix as a near miss naming the right key, and leaves other namespaces alone", () => {
        const { researchers, institution } = { researchers: readStack("example").raw["archaeo-workbench:researchers"], institution: "example-lab" };
        const base = Object.fromEntries(Object.entries(readStack("example").raw).filter(([k]) => k !== "archaeo-workbench:researchers" && k !== "archaeo-workbench:institution"));
        const found = (extra: Record<string, unknown>) => {
            try { parseConfig({ ...base, ...extra }, { stack: "example", region: "us-east-1" }); return {}; } catch (e) {
                assert.ok(e instanceof ConfigError);
                return Object.fromEntries(e.errors.map((p) => [p.propertyPath, p.reason]));
            }
        };
        const f = found({ "archeo-workbench:researchers": researchers, "Archaeo_Workbench:institution": institution, "aws:profile": "lab", "kubernetes:context": "x" });
        assert.equal(f["archeo-workbench:researchers"], "'archeo-workbench' is not this project's name; did you mean 'archaeo-workbench:researchers'? (as written, the key is ignored)");
        assert.match(f["Archaeo_Workbench:institution"], /did you mean 'archaeo-workbench:institution'\?/);
        // The key it stands for is then missing, and said so too; other namespaces pass unremarked.
        assert.deepEqual(Object.keys(f).sort(), ["Archaeo_Workbench:institution", "archaeo-workbench:institution", "archaeo-workbench:researchers", "archeo-workbench:researchers"]);
        // A misspelt key under a misspelt prefix: both corrected.
        assert.match(found({ "archaeo-workbnch:researcher": researchers })["archaeo-workbnch:researcher"], /did you mean 'archaeo-workbench:researchers'\?/);
        // The stack file as the CLI reads it keeps such keys for parseConfig to see (tools/stacks.ts readStack).
        const file = tmpFile("Pulumi.misspelt.yaml", fs.readFileSync(path.join(__dirname, "..", "..", "stacks", "Pulumi.example.yaml"), "utf8").replace("archaeo-workbench:researchers:", "archeo-workbench:researchers:"));
        const s = readStack("misspelt", file);
        assert.ok("archeo-workbench:researchers" in s.raw, Object.keys(s.raw).join(", "));
        assert.ok(!("aws:region" in s.raw) && s.region === "us-east-1");
    });

    it("accessCidrMaxAddresses raises the ceiling on purpose", () => {
        const cfg = parse({ accessMode: "cidr", accessCidrs: ["44.0.0.0/8"], accessCidrMaxAddresses: 16777216 });
        assert.deepEqual([...cfg.access.cidrs], ["44.0.0.0/8"]);
    });

    it("reports every problem at once, in one message naming each key", () => {
        let err: ConfigError | undefined;
        try { parse({ instanceType: "t3.micro", accessMode: "cidr", accessCidrs: ["0.0.0.0/0"], budgetAlertEmails: [], workspaceSizeGiB: 1 }); } catch (e) { err = e as ConfigError; }
        assert.ok(err, "expected a ConfigError");
        assert.deepEqual(err.errors.map((e) => e.propertyPath).sort(), [
            "archaeo-workbench:accessCidrs[0]", "archaeo-workbench:budgetAlertEmails", "archaeo-workbench:instanceType", "archaeo-workbench:workspaceSizeGiB",
        ]);
        assert.match(err.message, /^Invalid stack config \(4 problems\):\n  - archaeo-workbench:/);
    });

    it("property: the problems reported are exactly the keys that were broken", () => {
        const breakers: Record<string, unknown> = {
            institution: "X", dataClassification: "top-secret", instanceType: "m5.large", workspaceSizeGiB: 20000, rootVolumeSizeGiB: "big",
            snapshotRetentionDays: 0, autoStopIdleMinutes: 3, autoStopGpuUtilPercent: -1, budgetMonthlyUsd: 0, budgetAlertEmails: ["nobody"],
            protectData: "maybe", amiId: "ami-1", baseImageDigest: "sha256:abc", vpcCidr: "10.0.0.1/16", gpuLimit: 9, auditLogRetentionDays: 1,
        };
        const keyOf = (k: string, v: unknown) => (Array.isArray(v) ? `archaeo-workbench:${k}[0]` : `archaeo-workbench:${k}`);
        fc.assert(fc.property(fc.subarray(Object.keys(breakers)), (broken) => {
            const found = problems(Object.fromEntries(broken.map((k) => [k, breakers[k]])));
            assert.deepEqual(Object.keys(found).sort(), broken.map((k) => keyOf(k, breakers[k])).sort());
        }), { numRuns: 150 });
    });

    it("property: every valid combination parses and round-trips", () => {
        fc.assert(fc.property(
            fc.constantFrom(...Object.keys(GPU_INSTANCE_TYPES)),
            fc.integer({ min: 50, max: 16384 }),
            fc.oneof(fc.constant(0), fc.integer({ min: 15, max: 1440 })),
            fc.array(fc.tuple(fc.integer({ min: 1, max: 223 }), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 19, max: 32 })), { minLength: 1, maxLength: 4 }),
            (instanceType, workspaceSizeGiB, idle, nets) => {
                const cidrs = nets.map(([a, b, p]) => parseCidr(`${a}.${b}.0.0/${p}`)!.canonical);
                const cfg = parse({ instanceType, workspaceSizeGiB, autoStopIdleMinutes: idle, accessMode: "cidr", accessCidrs: cidrs });
                assert.equal(cfg.instanceType, instanceType);
                assert.equal(cfg.mode === "instance" && cfg.researchers[0].gpu, GPU_INSTANCE_TYPES[instanceType]);
                assert.equal(cfg.autoStop.idleMinutes, idle);
                assert.deepEqual([...cfg.access.cidrs], cidrs);
            },
        ), { numRuns: 150 });
    });
});

describe("config: helpers", () => {
    it("the CIDR arithmetic is the policy pack's (policies/lib/cidr.ts): overlaps once, private space free", () => {
        const c = (...x: string[]) => publicAddressCoverage(x).ipv4;
        assert.equal(c("203.0.113.0/24", "203.0.113.128/25"), 256n);
        assert.equal(c("0.0.0.0/1", "128.0.0.0/1") > 2n ** 31n, true);
        assert.equal(c("10.0.0.0/8"), 0n, "RFC 1918 space is not public");
        assert.equal(parseCidr("10.42.1.0/16")!.canonical, "10.42.0.0/16");
        for (const bad of ["10.0.0.0", "10.0.0.0/33", "1.2.3/8"]) assert.equal(parseCidr(bad), undefined, bad);
    });

    it("checkSshPublicKey accepts real keys and names what is wrong with others", () => {
        assert.equal(checkSshPublicKey(ED25519), undefined);
        assert.match(checkSshPublicKey("ssh-ed25519")!, /is not an OpenSSH public key line/);
        assert.match(checkSshPublicKey("ssh-ed25519 AAAA")!, /is cut short/);
        assert.match(checkSshPublicKey(`ssh-rsa ${"A".repeat(4000)}`)!, /is 4008 characters; at most 800/);
        assert.match(checkSshPublicKey(ED25519.replace("ssh-ed25519", "ecdsa-sha2-nistp256"))!, /says 'ecdsa-sha2-nistp256' but its body encodes 'ssh-ed25519'/);
    });
});
