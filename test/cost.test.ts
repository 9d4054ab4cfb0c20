import { strict as assert } from "assert";
import fc from "fast-check";
import { estimateCost, monthlyAt, SNAPSHOT_DAILY_CHANGE, CLUSTER_SHAPE, AUDIT_EVENTS_PER_RESEARCHER_MONTH } from "../infra/cost";
import prices from "../infra/data/prices.json";
import image from "../images/pytorch-cuda/image.json";
import { GPU_INSTANCE_TYPES } from "../infra/data/gpus";
import { CONFIG_KEYS } from "../infra/config";
import { clusterOverrides, parse, researcher } from "./helpers/config";
import { runStack } from "./helpers/program";

describe("cost model", () => {
    it("the price table names its sources (AWS pricing pages) and date, and prices every supported GPU type and the fixed parts", () => {
        assert.match(prices.date, /^\d{4}-\d{2}-\d{2}$/);
        assert.ok((prices.source.match(/https:\/\/aws\.amazon\.com\/[a-z0-9/-]+pricing/g) ?? []).length >= 8, "cites the AWS pricing pages");
        assert.ok(!/DESIGN\.md/.test(prices.source), "no design note outside the repository as a source");
        for (const t of [...Object.keys(GPU_INSTANCE_TYPES), CLUSTER_SHAPE.systemInstanceType, CLUSTER_SHAPE.natInstanceType]) assert.ok((prices.ec2OnDemandPerHour as Record<string, number>)[t] > 0, t);
    });

    it("instance mode, worked example: per researcher their disks and snapshots stopped, their instance while running", () => {
        const cfg = parse({ researchers: [researcher("alice"), researcher("bob", { instanceType: "g4dn.xlarge", workspaceSizeGiB: 100 })] });
        const c = estimateCost(cfg);
        const snapshots = (ws: number) => ws * (1 + SNAPSHOT_DAILY_CHANGE * 14) * 0.05;
        const alice = 150 * 0.08 + 500 * 0.08 + snapshots(500);
        const bob = 150 * 0.08 + 100 * 0.08 + snapshots(100);
        assert.ok(Math.abs(c.perResearcher.alice.stoppedPerMonth - alice) < 1e-3, `${c.perResearcher.alice.stoppedPerMonth} vs ${alice}`);
        assert.ok(Math.abs(c.perResearcher.bob.stoppedPerMonth - bob) < 1e-3);
        assert.ok(Math.abs(c.perResearcher.bob.runningPerHour - (0.526 + 0.005 + bob / 730)) < 1e-3);
        const shared = image.estimatedCompressedGiB * 0.1 + 2 * AUDIT_EVENTS_PER_RESEARCHER_MONTH / 100_000 * 0.1 + 1.0;
        assert.ok(Math.abs(c.stoppedPerMonth - (alice + bob + shared)) < 1e-3, "the floor is shared lines plus every researcher's stopped cost");
        assert.ok(Math.abs(monthlyAt(c, 10) - (c.stoppedPerMonth + 10 * (1.006 + 0.526 + 2 * 0.005))) < 1e-3);
    });

    it("cross-region copies add storage and transfer in the copy region", () => {
        const a = estimateCost(parse());
        const b = estimateCost(parse({ backupCopyRegion: "us-west-2", backupCopyKmsKeyArn: "arn:aws:kms:us-west-2:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab" }));
        assert.ok(b.perResearcher.alice.lines.some((l) => /snapshot copies in us-west-2/.test(l.item)));
        assert.ok(b.stoppedPerMonth > a.stoppedPerMonth);
    });

    it("an existing KMS key is not counted again", () => {
        const own = estimateCost(parse());
        const byo = estimateCost(parse({ kmsKeyArn: "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab" }));
        assert.ok(Math.abs(own.stoppedPerMonth - byo.stoppedPerMonth - prices.kmsKeyPerMonth) < 1e-9);
    });

    it("cluster mode: the floor is control plane (standard support), system node and NAT; each researcher's GPU node only while it runs", () => {
        const cfg = parse(clusterOverrides({ instanceType: "g6.xlarge", gpuFamilies: ["g6"] }));
        const c = estimateCost(cfg);
        assert.equal(c.perResearcher.alice.stoppedPerMonth, 0);
        assert.ok(Math.abs(c.perResearcher.alice.lines[0].hourly - 0.8048) < 1e-9);
        const floor = 0.1 * 730 + 0.0672 * 730 + 20 * 0.08 + 0.0042 * 730 + 8 * 0.08 + 0.005 * 730 + image.estimatedCompressedGiB * 0.1 + 0.2 + 1.0;
        assert.ok(Math.abs(c.stoppedPerMonth - floor) < 1e-2, `${c.stoppedPerMonth} vs ${floor}`);
        assert.ok(c.notes.some((n) => /upgradePolicy STANDARD/.test(n) && /\$0\.6\/h/.test(n)), "the cost output says the cluster never bills extended support");
    });

    it("the cluster shape the cost model assumes is what the program builds", async () => {
        const run = await runStack("national-heritage");
        const ng = run.engine.one("aws:eks/nodeGroup:NodeGroup").inputs;
        assert.deepEqual(ng.instanceTypes, [CLUSTER_SHAPE.systemInstanceType]);
        assert.equal(run.engine.one("aws:ec2/launchTemplate:LaunchTemplate").inputs.blockDeviceMappings[0].ebs.volumeSize, CLUSTER_SHAPE.systemRootGiB);
        const nat = run.engine.one("aws:ec2/instance:Instance").inputs;
        assert.deepEqual([nat.instanceType, nat.rootBlockDevice.volumeSize], [CLUSTER_SHAPE.natInstanceType, CLUSTER_SHAPE.natRootGiB]);
        const gpuClass = run.engine.byType("kubernetes:karpenter.k8s.aws/v1:EC2NodeClass").find((n) => n.inputs.metadata.name === "gpu")!;
        assert.equal(gpuClass.inputs.spec.blockDeviceMappings[0].ebs.volumeSize, `${CLUSTER_SHAPE.gpuNodeRootGiB}Gi`);
        assert.equal(run.engine.byType("aws:ec2/natGateway:NatGateway").length, 0, "no NAT gateway in the floor");
    });

    it("refuses an instance type without a price", () => {
        const cfg = parse();
        assert.throws(() => estimateCost({ ...cfg, researchers: [{ ...cfg.researchers[0], instanceType: "p5.48xlarge" }] } as typeof cfg), /No price for p5.48xlarge/);
    });

    it("property: cost grows with disk sizes, retention and researchers, and never goes negative", () => {
        fc.assert(fc.property(
            fc.constantFrom(...Object.keys(GPU_INSTANCE_TYPES)), fc.integer({ min: 50, max: 16384 }), fc.integer({ min: CONFIG_KEYS.snapshotRetentionDays.min, max: CONFIG_KEYS.snapshotRetentionDays.max - 1 }), fc.integer({ min: 1, max: 500 }),
            (instanceType, ws, days, extra) => {
                const a = estimateCost(parse({ researchers: [researcher("ann", { instanceType, workspaceSizeGiB: ws })], snapshotRetentionDays: days }));
                const b = estimateCost(parse({ researchers: [researcher("ann", { instanceType, workspaceSizeGiB: Math.min(16384, ws + extra) })], snapshotRetentionDays: days + 1 }));
                const c = estimateCost(parse({ researchers: [researcher("ann", { instanceType, workspaceSizeGiB: ws }), researcher("bob")], snapshotRetentionDays: days }));
                assert.ok(a.stoppedPerMonth > 0 && a.runningPerHour > a.stoppedPerMonth / 730);
                assert.ok(b.stoppedPerMonth > a.stoppedPerMonth);
                assert.ok(c.stoppedPerMonth > a.stoppedPerMonth && c.runningPerHour > a.runningPerHour);
            },
        ), { numRuns: 60 });
    });
});
