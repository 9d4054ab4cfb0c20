import { strict as assert } from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { diffManifests } from "../tools/manifest";
import { parseArgs, plan } from "../tools/plan";
import { listStacks } from "../tools/stacks";
import { tmpFile } from "./helpers/tools";

const exampleFile = path.join(__dirname, "..", "stacks", "Pulumi.example.yaml");
const example = fs.readFileSync(exampleFile, "utf8");
const variant = (edit: (s: string) => string) => tmpFile("Pulumi.example.yaml", edit(example));

describe("offline plan (npm run plan)", () => {
    it("prints tree, policies and cost for every stack, and exits 0 when clean", async () => {
        for (const stack of listStacks()) {
            const r = await plan({ stack });
            assert.equal(r.exitCode, 0, r.output);
            assert.match(r.output, /^Resources: \d+ \(\d+ components, \d+ cloud\/provider resources\)$/m);
            if (/cluster mode/.test(r.output)) {
                assert.match(r.output, /archaeo:cluster:EksCluster {2}archaeo-eks/);
                assert.match(r.output, /[├└]─ kubernetes:karpenter.sh\/v1:NodePool {2}archaeo-gpu-pool-gpu/);
            } else {
                assert.match(r.output, /archaeo:workstation:GpuWorkstation {2}archaeo-workstation/);
                assert.match(r.output, /[├└]─ aws:ec2\/instance:Instance {2}archaeo-workstation-instance/);
            }
            assert.match(r.output, /^Policies: archaeo-workbench-security, \d+ policies run: 0 mandatory and 0 advisory/m);
            assert.match(r.output, /running: \$\d+\.\d{3}\/hour {4}stopped: \$\d+\.\d{2}\/month/);
            assert.match(r.output, /jupyterToken: \[secret\]/);
            assert.match(r.output, /OK: the stack is clean/);
        }
    });

    it("exits 1 and names policy, resource and fix for a stack that violates a mandatory policy", async () => {
        const r = await plan({ stack: "example", stackFile: variant((s) => s.replace("protectData: true", "protectData: false")) });
        assert.equal(r.exitCode, 1);
        assert.match(r.output, /✘ mandatory {2}stateful-resources-protected {2}aws:ebs\/volume:Volume archaeo-data-workspace/);
        assert.match(r.output, /must be protected \(protectData: true sets protect and retainOnDelete\)/);
        assert.match(r.output, /FAILED: 3 mandatory policy violation\(s\)\./);
    });

    it("--preview shows, for a first preview, every check deferred to `up` and what it waits for, and exits 0", async () => {
        const r = await plan({ stack: "example", preview: true });
        assert.equal(r.exitCode, 0, r.output);
        assert.match(r.output, /^Mode: first preview of a new stack/m);
        assert.match(r.output, /^Policies: archaeo-workbench-security, \d+ policies run: 0 mandatory and 0 advisory violation\(s\), 16 check\(s\) deferred to `up`$/m);
        assert.match(r.output, /^Deferred to `pulumi up` \(unknown until resources exist; re-checked on resolved values there, where they are mandatory\):$/m);
        assert.match(r.output, /… ebs-volumes-encrypted-cmk {2}aws:ebs\/volume:Volume archaeo-data-workspace\n {6}EBS volume 'archaeo-data-workspace': kmsKeyId is unknown until the resources it depends on exist; this check is deferred to `pulumi up`/);
        assert.match(r.output, /… kms-key-references-stack-key {2}\(stack\)\n {6}this stack: .*Volume 'archaeo-data-workspace'\.kmsKeyId/);
        assert.match(r.output, /kmsKeyArn: \[unknown until up\]/);
        assert.match(r.output, /OK at preview: no violation among the values known now; 16 check\(s\) deferred to `up` \(listed above\), never passed silently\./);
        const resolved = await plan({ stack: "example" });
        assert.doesNotMatch(resolved.output, /Deferred to `pulumi up`/);
        assert.match(resolved.output, /0 check\(s\) deferred to `up`/);
    });

    it("--preview still fails on a violation that is known at preview", async () => {
        const r = await plan({ stack: "example", preview: true, stackFile: variant((s) => s.replace("protectData: true", "protectData: false")) });
        assert.equal(r.exitCode, 1);
        assert.match(r.output, /✘ mandatory {2}stateful-resources-protected {2}aws:ebs\/volume:Volume archaeo-data-workspace/);
    });

    it("--policy-config takes the CLI's --policy-pack-config format (one policy advisory)", async () => {
        const cfg = tmpFile("policy-config.json", JSON.stringify({ "stateful-resources-protected": "advisory" }));
        const r = await plan({ stack: "example", policyConfig: cfg, stackFile: variant((s) => s.replace("protectData: true", "protectData: false")) });
        assert.equal(r.exitCode, 0, r.output);
        assert.match(r.output, /! advisory +stateful-resources-protected {2}aws:ebs\/volume:Volume archaeo-data-workspace/);
    });

    it("exits 2 naming every bad key for an invalid config, before evaluating anything", async () => {
        const r = await plan({ stack: "example", stackFile: variant((s) => s.replace("g5.xlarge", "t3.micro").replace("workspaceSizeGiB: 500", "workspaceSizeGiB: 5").replace("accessCidrs: []", "accessCidrs: [0.0.0.0/0]")) });
        assert.equal(r.exitCode, 2);
        for (const k of ["instanceType", "workspaceSizeGiB", "accessCidrs"]) assert.match(r.output, new RegExp(`- archaeo-workbench:${k}`));
        assert.doesNotMatch(r.output, /Resources:/);
    });

    it("exits 2 with usage for an unknown stack or argument", async () => {
        const r = await plan({ stack: "nowhere" });
        assert.equal(r.exitCode, 2);
        assert.match(r.output, /No stack file stacks\/Pulumi.nowhere.yaml; stacks: .*example/);
        assert.equal(parseArgs(["--stack"]), "--stack needs a value");
        assert.equal(parseArgs(["--bogus"]), "unknown argument '--bogus'");
        assert.deepEqual(parseArgs(["--stack", "x", "--json", "m.json"]), { stack: "x", json: "m.json" });
        assert.deepEqual(parseArgs(["--stack", "x", "--preview"]), { stack: "x", preview: true });
    });

    it("writes a canonical manifest that is byte-identical across runs, with secrets redacted", async () => {
        const a = tmpFile("a.json", "");
        const b = tmpFile("b.json", "");
        await plan({ stack: "example", json: a });
        await plan({ stack: "example", json: b });
        const text = fs.readFileSync(a, "utf8");
        assert.equal(text, fs.readFileSync(b, "utf8"));
        const m = JSON.parse(text);
        const param = m.resources.find((r: any) => r.type === "aws:ssm/parameter:Parameter");
        assert.equal(param.inputs.value, "[secret]");
        assert.equal(m.outputs.jupyterToken, "[secret]");
        assert.doesNotMatch(text, /mock-[0-9a-f]{40}/, "no token value anywhere in the manifest");
        const urns = m.resources.map((r: any) => r.urn);
        assert.deepEqual(urns, [...urns].sort());
    });

    it("--diff reports exactly the properties a config change touches", async () => {
        const base = tmpFile("base.json", "");
        await plan({ stack: "example", json: base });
        const r = await plan({ stack: "example", stackFile: variant((s) => s.replace("workspaceSizeGiB: 500", "workspaceSizeGiB: 800")), diff: base });
        assert.match(r.output, /~ aws:ebs\/volume:Volume {2}archaeo-data-workspace\n {6}~ size: 500 => 800\n/);
        assert.match(r.output, /0 to create, 0 to delete, 1 to update, 0 to replace, \d+ unchanged/);
        const d = diffManifests(JSON.parse(fs.readFileSync(base, "utf8")), r.manifest!);
        assert.deepEqual(d.changed.map((c) => [c.name, c.changes.map((x) => x.path)]), [["archaeo-data-workspace", ["size"]]]);

        const cidr = await plan({ stack: "example", stackFile: variant((s) => s.replace("accessMode: ssm", "accessMode: cidr").replace("accessCidrs: []", "accessCidrs: [203.0.113.0/24]")), diff: base });
        assert.match(cidr.output, /\+ aws:vpc\/securityGroupIngressRule:SecurityGroupIngressRule {2}archaeo-network-in-jupyter-0/);
        assert.match(cidr.output, /- SSH_BIND_ADDRESS=127\.0\.0\.1\n {10}\+ SSH_BIND_ADDRESS=0\.0\.0\.0/);
        assert.match(cidr.output, /3 to create, 0 to delete/);
        assert.match(cidr.output, /\+- aws:ec2\/instance:Instance {2}archaeo-workstation-instance {2}\(replace: userData\)/, "user data changes replace the workstation");
    });

    it("--diff marks replacements and warns when a protected resource would be replaced", async () => {
        const base = tmpFile("base.json", "");
        await plan({ stack: "example", json: base });
        const r = await plan({ stack: "example", stackFile: variant((s) => s.replace("availabilityZone: us-east-1a", "availabilityZone: us-east-1b")), diff: base });
        assert.match(r.output, /\+- aws:ebs\/volume:Volume {2}archaeo-data-workspace {2}\(replace: availabilityZone\)\n {6}! archaeo-data-workspace is protected: Pulumi will refuse this replacement/);
        assert.match(r.output, /\+- aws:ec2\/subnet:Subnet {2}archaeo-network-public {2}\(replace: availabilityZone\)/);
        assert.doesNotMatch(r.output, /\+- aws:ec2\/securityGroup/);
    });

    it("runs as the npm script from a shell with the documented exit code", () => {
        const r = spawnSync("npx", ["tsx", "tools/plan.ts", "--stack", "example"], { cwd: path.join(__dirname, ".."), encoding: "utf8" });
        assert.equal(r.status, 0, r.stderr);
        assert.match(r.stdout, /OK: the stack is clean/);
    });
});
