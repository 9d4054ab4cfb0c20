import { strict as assert } from "assert";
import { listStacks } from "../tools/stacks";
import { runStack, ProgramRun } from "./helpers/program";

describe("whole program, every stack in stacks/", () => {
    for (const stack of listStacks()) {
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
