import { strict as assert } from "assert";
import { accountProblems, ConfigError, MAX_RESEARCHERS, namedAccounts, parseConfig, stackAccount } from "../../infra/config";
import { ACCOUNT, clusterOverrides, ED25519, ED25519_B, parse, problems, raw, refuses, researcher } from "../helpers/config";

const SSO = `arn:aws:iam::${ACCOUNT}:role/aws-reserved/sso.amazonaws.com/eu-west-2/AWSReservedSSO_Researcher_0123456789abcdef`;
const three = [researcher("alice"), researcher("bob", { instanceType: "g4dn.xlarge", workspaceSizeGiB: 100 }), researcher("carol", { sshPublicKeys: [ED25519_B] })];

describe("config: researchers", () => {
    it("each researcher gets the stack defaults unless they override instance type or workspace size", () => {
        const cfg = parse({ researchers: three });
        assert.ok(cfg.mode === "instance");
        assert.deepEqual(cfg.researchers.map((r) => [r.id, r.instanceType, r.workspaceSizeGiB, r.gpu.gpuModel]), [
            ["alice", "g5.xlarge", 500, "NVIDIA A10G"],
            ["bob", "g4dn.xlarge", 100, "NVIDIA T4"],
            ["carol", "g5.xlarge", 500, "NVIDIA A10G"],
        ]);
        assert.deepEqual([...cfg.researchers[2].sshPublicKeys], [ED25519_B]);
    });

    const rules: Array<[string, unknown, string, RegExp]> = [
        ["no researchers", [], "researchers", /needs at least one researcher, e.g. researchers: \[\{ id: alice/],
        ["not a list", "alice", "researchers", /must be a list \(a YAML list/],
        ["an entry that is not an object", [researcher("alice"), "bob"], "researchers[1]", /must be an object like \{ id: alice/],
        ["missing id", [researcher("alice", { id: undefined })], "researchers[0].id", /is required: slug naming their server/],
        ["bad id", [researcher("Alice Smith", { iamPrincipalArn: `arn:aws:iam::${ACCOUNT}:user/alice` })], "researchers[0].id", /'Alice Smith' must be 2-20 chars of a-z, 0-9 and single '-'/],
        ["a double dash (KubeSpawner would hash the pod name)", [researcher("al--ice", { iamPrincipalArn: `arn:aws:iam::${ACCOUNT}:user/alice` })], "researchers[0].id", /single '-'/],
        ["duplicate id", [researcher("alice"), researcher("alice", { iamPrincipalArn: `arn:aws:iam::${ACCOUNT}:user/alice2` })], "researchers[1].id", /'alice' is also researchers\[0\]; ids must be unique/],
        ["missing principal", [researcher("alice", { iamPrincipalArn: undefined })], "researchers[0].iamPrincipalArn", /is required: the IAM role or user that may act as this researcher/],
        ["principal is not an ARN", [researcher("alice", { iamPrincipalArn: "alice" })], "researchers[0].iamPrincipalArn", /'alice' is not an IAM role or user ARN/],
        ["an assumed-role session is not a principal", [researcher("alice", { iamPrincipalArn: `arn:aws:sts::${ACCOUNT}:assumed-role/x/alice` })], "researchers[0].iamPrincipalArn", /is not an IAM role or user ARN/],
        ["a shared SSO role without a session name", [researcher("alice", { iamPrincipalArn: SSO })], "researchers[0].sessionName", /is required: an Identity Center permission-set role is shared/],
        ["session name on an IAM user", [researcher("alice", { sessionName: "alice" })], "researchers[0].sessionName", /is only used when iamPrincipalArn is a role/],
        // sts:AssumeRole's RoleSessionName is the caller's choice (STS API reference); only Identity Center sets it for the user.
        ["session name on a plain shared role", [researcher("alice", { iamPrincipalArn: "arn:aws:iam::123456789012:role/Researchers", sessionName: "alice" })], "researchers[0].sessionName", /only trusted for Identity Center permission-set roles .* whoever assumes the role chooses the session name/],
        ["two researchers acting as one principal", [researcher("alice"), researcher("bob", { iamPrincipalArn: `arn:aws:iam::${ACCOUNT}:user/alice` })], "researchers[1].iamPrincipalArn", /also acts as researchers\[0\]/],
        ["no SSH key in instance mode", [researcher("alice", { sshPublicKeys: [] })], "researchers[0].sshPublicKeys", /needs at least one OpenSSH public key/],
        ["a malformed SSH key", [researcher("alice", { sshPublicKeys: [ED25519, "ssh-ed25519 nope!"] })], "researchers[0].sshPublicKeys[1]", /has a body that is not base64/],
        ["seven SSH keys", [researcher("alice", { sshPublicKeys: Array(7).fill(ED25519) })], "researchers[0].sshPublicKeys", /has 7 keys; at most 6 per researcher/],
        ["bad e-mail", [researcher("alice", { email: "alice" })], "researchers[0].email", /'alice' is not an e-mail address/],
        ["bad per-researcher instance type", [researcher("alice", { instanceType: "m5.large" })], "researchers[0].instanceType", /m5.large is not a supported GPU instance type/],
        ["per-researcher workspace out of range", [researcher("alice", { workspaceSizeGiB: 20 })], "researchers[0].workspaceSizeGiB", /must be 50-16384 GiB, got 20/],
        ["unknown field with a hint", [researcher("alice", { sshPublicKey: [ED25519] })], "researchers[0].sshPublicKey", /is not a researcher field; did you mean 'sshPublicKeys'\?/],
        // The workspace restore (docs/runbooks.md): a volume id or an ARN pasted instead of the snapshot's id.
        ["a restore from a volume id", [researcher("alice", { restoreFromSnapshot: "vol-0123456789abcdef0" })], "researchers[0].restoreFromSnapshot",
            /^researcher 'alice': 'vol-0123456789abcdef0' is not an EBS snapshot id \(snap- and 8 or 17 hex digits\); list this researcher's snapshots with `npm run restore -- workspace --stack <stack> --researcher alice`$/],
        ["a restore from a snapshot ARN", [researcher("alice", { restoreFromSnapshot: "arn:aws:ec2:us-east-1::snapshot/snap-0123456789abcdef0" })], "researchers[0].restoreFromSnapshot", /is not an EBS snapshot id/],
        ["a restore snapshot that is not a string", [researcher("alice", { restoreFromSnapshot: 7 })], "researchers[0].restoreFromSnapshot", /must be a string, got 7/],
    ];
    for (const [title, researchers, key, reason] of rules) {
        it(`refuses: ${title}`, () => {
            // A rule may also empty the keys list; only the named problem (and no other) is expected.
            refuses({ researchers }, key, reason);
        });
    }

    it(`refuses more than ${MAX_RESEARCHERS} researchers`, () => {
        const many = Array.from({ length: MAX_RESEARCHERS + 1 }, (_, i) => researcher(`r${i}`));
        // The advice must be true: quotas are per account and region, so a second stack goes to another of either.
        refuses({ researchers: many }, "researchers", new RegExp(`at most ${MAX_RESEARCHERS} per stack.*IAM roles and instance profiles per account \\(every region\\).*only another account the IAM ones`));
    });

    it("a shared SSO role works with one session name per person", () => {
        const cfg = parse({ researchers: [researcher("alice", { iamPrincipalArn: SSO, sessionName: "alice@uni.example" }), researcher("bob", { iamPrincipalArn: SSO, sessionName: "bob@uni.example" })] });
        assert.deepEqual(cfg.researchers.map((r) => r.sessionName), ["alice@uni.example", "bob@uni.example"]);
    });

    it("names every problem of every researcher at once", () => {
        const found = problems({ researchers: [researcher("A"), researcher("bob", { iamPrincipalArn: "x", sshPublicKeys: [] })] });
        assert.deepEqual(Object.keys(found).sort(), [
            "archaeo-workbench:researchers[0].id",
            "archaeo-workbench:researchers[1].iamPrincipalArn",
            "archaeo-workbench:researchers[1].sshPublicKeys",
        ]);
    });

    it("names each researcher by id in their problems, keeping the key path `pulumi config set --path` takes", () => {
        const found = problems({ researchers: [researcher("alice"), researcher("bob", { email: "bob", sshPublicKeys: ["ssh-ed25519 AAAA"] }), researcher("carol", { iamPrincipalArn: `arn:aws:iam::${ACCOUNT}:user/bob` })] });
        assert.deepEqual(found, {
            "archaeo-workbench:researchers[1].email": "researcher 'bob': 'bob' is not an e-mail address",
            "archaeo-workbench:researchers[1].sshPublicKeys[0]": "researcher 'bob': is cut short (OpenSSH: incomplete message); was the key broken across lines, or copied in part? Paste the whole line of the .pub file",
            "archaeo-workbench:researchers[2].iamPrincipalArn": `researcher 'carol': arn:aws:iam::${ACCOUNT}:user/bob also acts as researchers[1] (bob); give each researcher their own principal, or a distinct sessionName when they share a role`,
        });
    });

    it("cluster mode: SSH keys optional, an e-mail required for the Cognito invitation, no per-researcher instance type", () => {
        const ok = parse(clusterOverrides({ researchers: [{ id: "alice", iamPrincipalArn: `arn:aws:iam::${ACCOUNT}:role/alice`, email: "a@b.org" }] }));
        assert.equal(ok.researchers[0].sshPublicKeys.length, 0);
        refuses(clusterOverrides({ researchers: [{ id: "alice", iamPrincipalArn: `arn:aws:iam::${ACCOUNT}:role/alice` }] }), "researchers[0].email", /is required with clusterAuth: cognito/);
        refuses(clusterOverrides({ researchers: [{ id: "alice", iamPrincipalArn: `arn:aws:iam::${ACCOUNT}:role/alice`, email: "a@b.org", instanceType: "g5.xlarge" }] }), "researchers[0].instanceType", /is only used in instance mode/);
    });

    it("restoreFromSnapshot: an instance-mode researcher's workspace source, old (8) and new (17 hex digit) ids; refused in cluster mode (homes restore from AWS Backup)", () => {
        const cfg = parse({ researchers: [researcher("alice", { restoreFromSnapshot: "snap-0123456789abcdef0" }), researcher("bob", { restoreFromSnapshot: "snap-0a1b2c3d" }), researcher("carol")] });
        assert.ok(cfg.mode === "instance");
        assert.deepEqual(cfg.researchers.map((r) => r.restoreFromSnapshot), ["snap-0123456789abcdef0", "snap-0a1b2c3d", undefined]);
        refuses(clusterOverrides({ researchers: [{ id: "alice", iamPrincipalArn: `arn:aws:iam::${ACCOUNT}:role/alice`, email: "a@b.org", restoreFromSnapshot: "snap-0123456789abcdef0" }] }),
            "researchers[0].restoreFromSnapshot", /is only used in instance mode; remove it/);
    });
});

describe("config: the deploying account (checked after aws.getCallerIdentity, before any cloud resource)", () => {
    const keyIn = (account: string) => `arn:aws:kms:us-east-1:${account}:key/1234abcd-12ab-34cd-56ef-1234567890ab`;

    it("accepts keys and principals of the deploying account", () => {
        assert.deepEqual(accountProblems(parse({ kmsKeyArn: keyIn(ACCOUNT) }), ACCOUNT), []);
    });

    it("refuses an existing key, a copy key, a researcher or an admin of another account, naming each", () => {
        const cfg = parse({
            kmsKeyArn: keyIn("999999999999"),
            backupCopyRegion: "us-west-2", backupCopyKmsKeyArn: "arn:aws:kms:us-west-2:999999999999:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            researchers: [researcher("alice"), researcher("bob", { iamPrincipalArn: "arn:aws:iam::999999999999:user/bob" })],
        });
        const found = Object.fromEntries(accountProblems(cfg, ACCOUNT).map((p) => [p.propertyPath, p.reason]));
        assert.deepEqual(Object.keys(found).sort(), ["archaeo-workbench:backupCopyKmsKeyArn", "archaeo-workbench:kmsKeyArn", "archaeo-workbench:researchers[1].iamPrincipalArn"]);
        assert.match(found["archaeo-workbench:kmsKeyArn"], /the key is in account 999999999999 but the stack deploys to 123456789012/);
        const cluster = parse(clusterOverrides({ clusterAdminArns: ["arn:aws:iam::999999999999:role/admins"] }));
        assert.match(accountProblems(cluster, ACCOUNT)[0].reason, /is in account 999999999999/);
    });
    it("offline, with no account given, the stack's ARNs must agree: the account is the one they name", () => {
        const raw0 = raw({ kmsKeyArn: keyIn("210987654321"), researchers: [researcher("alice", { iamPrincipalArn: "arn:aws:iam::210987654321:user/alice" })] });
        const cfg = parseConfig(raw0, { stack: "example", region: "us-east-1", inferAccount: true });
        assert.equal(stackAccount(cfg), "210987654321");
        assert.deepEqual(namedAccounts(cfg).map((n) => n.propertyPath), ["archaeo-workbench:kmsKeyArn", "archaeo-workbench:researchers[0].iamPrincipalArn"]);
        // A tie goes to the existing key's account (the provider refuses any other).
        const tie = parseConfig(raw({ kmsKeyArn: keyIn("210987654321") }), { stack: "example", region: "us-east-1" });
        assert.equal(stackAccount(tie), "210987654321");
    });

    it("offline, ARNs of two accounts are one ConfigError with the other problems, naming each dissenting key and researcher", () => {
        const r = raw({
            kmsKeyArn: keyIn("210987654321"), institution: "Bad Name",
            researchers: [researcher("alice", { iamPrincipalArn: "arn:aws:iam::210987654321:user/alice" }), researcher("bob", { iamPrincipalArn: "arn:aws:iam::999988887777:user/bob" })],
        });
        assert.throws(() => parseConfig(r, { stack: "example", region: "us-east-1", inferAccount: true }), (e: unknown) => {
            assert.ok(e instanceof ConfigError);
            assert.deepEqual(e.errors.map((p) => p.propertyPath), ["archaeo-workbench:institution", "archaeo-workbench:researchers[1].iamPrincipalArn"]);
            assert.match(e.errors[1].reason, /^researcher 'bob': is in account 999988887777, but kmsKeyArn, researchers\[0\]\.iamPrincipalArn are in 210987654321; a stack deploys to one account/);
            return true;
        });
        // Given the account (--account), each ARN of another is named against it.
        assert.throws(() => parseConfig(r, { stack: "example", region: "us-east-1", accountId: "999988887777" }), (e: unknown) => {
            assert.ok(e instanceof ConfigError);
            assert.deepEqual(e.errors.map((p) => p.propertyPath), ["archaeo-workbench:institution", "archaeo-workbench:kmsKeyArn", "archaeo-workbench:researchers[0].iamPrincipalArn"]);
            assert.match(e.errors[2].reason, /^researcher 'alice': is in account 210987654321 but the stack deploys to 999988887777/);
            return true;
        });
        // The pure program path (no account known before getCallerIdentity) is unchanged: no account problems at parse.
        assert.deepEqual(problems({ researchers: [researcher("alice"), researcher("bob", { iamPrincipalArn: "arn:aws:iam::999988887777:user/bob" })] }), {});
    });

    it("refuses a hub certificate of another account", () => {
        const cfg = parse(clusterOverrides({ accessMode: "cidr", accessCidrs: ["203.0.113.0/24"], hubHostname: "hub.example.org", acmCertificateArn: `arn:aws:acm:us-east-1:999999999999:certificate/${"0".repeat(8)}-0000-0000-0000-${"0".repeat(12)}` }));
        assert.deepEqual(accountProblems(cfg, ACCOUNT).map((p) => p.propertyPath), ["archaeo-workbench:acmCertificateArn"]);
    });
});
