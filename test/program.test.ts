import { strict as assert } from "assert";
import { listStacks, readStack } from "../tools/stacks";
import { runStack, ProgramRun } from "./helpers/program";

const instanceStacks = listStacks().filter((s) => readStack(s).raw["archaeo-workbench:mode"] !== "cluster");

describe("whole program, every instance-mode stack in stacks/", () => {
    for (const stack of instanceStacks) {
        describe(stack, () => {
            let run: ProgramRun;
            before(async () => { run = await runStack(stack); });

            it("registers the workbench components", () => {
                const components = run.resources.filter((r) => !r.custom).map((r) => r.type).sort();
                for (const t of ["archaeo:network:Network", "archaeo:identity:WorkstationIdentity", "archaeo:key:Key", "archaeo:datastore:DataStore",
                    "archaeo:registry:ImageRegistry", "archaeo:workstation:GpuWorkstation", "archaeo:budget:Budget"]) {
                    assert.ok(components.includes(t), `${t} missing; got ${components.join(", ")}`);
                }
            });

            it("has no EKS and no NAT gateway in instance mode", () => {
                assert.equal(run.resources.filter((r) => /^aws:eks\/|natGateway/.test(r.type)).length, 0);
            });

            it("uses the instance type, AZ and access mode of its stack file", () => {
                const inst = run.engine.one("aws:ec2/instance:Instance");
                assert.equal(inst.inputs.instanceType, run.cfg.instanceType);
                assert.equal(run.engine.one("aws:ebs/volume:Volume").inputs.availabilityZone, run.cfg.availabilityZone);
                assert.equal(run.engine.one("aws:ec2/subnet:Subnet").inputs.availabilityZone, run.cfg.availabilityZone);
                const ingress = run.engine.byType("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule");
                assert.equal(ingress.length, run.cfg.access.mode === "ssm" ? 0 : 3 * run.cfg.access.cidrs.length);
            });

            it("every AWS resource goes through the one explicit provider, whose default tags carry the required tags", () => {
                const provider = run.engine.one("pulumi:providers:aws");
                assert.deepEqual(
                    // Provider config reaches the engine JSON-encoded, as here.
                    Object.fromEntries(["institution", "data-classification", "stack"].map((k) => [k, JSON.parse(provider.inputs.defaultTags).tags[k]])),
                    { institution: run.cfg.institution, "data-classification": run.cfg.dataClassification, stack: stack },
                );
                assert.equal(provider.inputs.region, run.cfg.region);
                const aws = run.resources.filter((r) => r.custom && r.type.startsWith("aws:"));
                assert.ok(aws.length > 20);
                for (const r of aws) assert.ok(r.provider.startsWith(`${provider.urn}::`), `${r.type} ${r.name} uses provider '${r.provider}'`);
                const root = run.engine.one("aws:ec2/instance:Instance").inputs.rootBlockDevice.tags;
                assert.equal(root.institution, run.cfg.institution, "the root volume is tagged explicitly");
            });

            it("every volume is encrypted with the stack's key, root included", () => {
                const key = (run.outputs as any).kmsKeyArn;
                const vol = run.engine.one("aws:ebs/volume:Volume").inputs;
                const rootDev = run.engine.one("aws:ec2/instance:Instance").inputs.rootBlockDevice;
                assert.deepEqual([vol.encrypted, vol.kmsKeyId, rootDev.encrypted, rootDev.kmsKeyId], [true, key, true, key]);
                assert.equal(run.engine.one("aws:ssm/parameter:Parameter").inputs.keyId, key);
                assert.equal(run.engine.one("aws:ecr/repository:Repository").inputs.encryptionConfigurations[0].kmsKey, key);
            });

            it("stateful resources are protected and retained as protectData says", () => {
                for (const t of ["aws:ebs/volume:Volume", "aws:s3/bucket:Bucket", "aws:kms/key:Key"]) {
                    for (const r of run.engine.byType(t)) {
                        assert.equal(r.protect, run.cfg.protectData, `${t} protect`);
                        assert.equal(r.retainOnDelete, run.cfg.protectData, `${t} retainOnDelete`);
                    }
                }
            });

            it("the Jupyter token never reaches user data, and user data uses the image by digest", () => {
                const token = (run.outputs as any).jupyterToken as string;
                const userData: string = run.engine.one("aws:ec2/instance:Instance").inputs.userData;
                assert.ok(!userData.includes(token));
                assert.ok(userData.includes(`IMAGE_REF=${(run.outputs as any).imageUri}`));
            });

            it("outputs connect commands, URLs, image by digest, bucket, key, secret token and cost", () => {
                const o = run.outputs as any;
                assert.match(o.instanceId, /^i-[0-9a-f]{17}$/);
                assert.match(o.connect.ssh, /-p 2222/);
                assert.match(o.jupyterUrl, /:8888\/lab$/);
                assert.match(o.tensorboardUrl, /:6006\/$/);
                assert.match(o.imageUri, /^\d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com\/archaeo\/[a-z0-9-]+\/pytorch-cuda@sha256:[0-9a-f]{64}$/);
                assert.ok(o.bucketName.startsWith(`archaeo-${run.cfg.institution}-`));
                assert.match(o.kmsKeyArn, /^arn:aws:kms:/);
                assert.ok(o.cost.runningPerHour > 0 && o.cost.stoppedPerMonth > 0);
            });
        });
    }
});
