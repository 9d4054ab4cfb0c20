import { strict as assert } from "assert";
import fc from "fast-check";
import { estimateCost, monthlyAt, SNAPSHOT_DAILY_CHANGE } from "../infra/cost";
import prices from "../infra/data/prices.json";
import { GPU_INSTANCE_TYPES } from "../infra/data/gpus";

const base = { mode: "instance" as const, instanceType: "g5.xlarge", rootVolumeSizeGiB: 150, workspaceSizeGiB: 500, snapshotRetentionDays: 14 };

describe("cost model", () => {
    it("the price table names its source and date and prices every supported GPU type", () => {
        assert.match(prices.date, /^\d{4}-\d{2}-\d{2}$/);
        assert.ok(prices.source.length > 20);
        for (const t of Object.keys(GPU_INSTANCE_TYPES)) assert.ok((prices.ec2OnDemandPerHour as Record<string, number>)[t] > 0, t);
    });

    it("stopped: disks, snapshots, image and key only (worked example)", () => {
        const c = estimateCost(base);
        const snapshots = 500 * (1 + SNAPSHOT_DAILY_CHANGE * 14) * 0.05;
        const expected = 150 * 0.08 + 500 * 0.08 + snapshots + 4.41 * 0.1 + 1.0; // image.json estimatedCompressedGiB
        assert.ok(Math.abs(c.stoppedPerMonth - expected) < 1e-3, `${c.stoppedPerMonth} vs ${expected}`);
        assert.equal(c.lines.find((l) => l.item.startsWith("EC2"))!.monthly, 0, "a stopped instance costs nothing");
    });

    it("running: the instance and its public IPv4 on top of the at-rest cost per hour", () => {
        const c = estimateCost(base);
        const expected = 1.006 + 0.005 + c.stoppedPerMonth / 730;
        assert.ok(Math.abs(c.runningPerHour - expected) < 1e-3, `${c.runningPerHour} vs ${expected}`);
        assert.equal(monthlyAt(c, 0), c.stoppedPerMonth);
        assert.ok(Math.abs(monthlyAt(c, 100) - (c.stoppedPerMonth + 100 * 1.011)) < 1e-3);
    });

    it("an existing KMS key is not counted again", () => {
        const own = estimateCost(base);
        const byo = estimateCost({ ...base, kmsKeyArn: "arn:aws:kms:us-east-1:1:key/x" });
        assert.ok(Math.abs(own.stoppedPerMonth - byo.stoppedPerMonth - prices.kmsKeyPerMonth) < 1e-9);
    });

    it("refuses an instance type without a price", () => {
        assert.throws(() => estimateCost({ ...base, instanceType: "p5.48xlarge" }), /No price for p5.48xlarge/);
    });

    it("property: cost grows with disk sizes and retention and never goes negative", () => {
        fc.assert(fc.property(
            fc.constantFrom(...Object.keys(GPU_INSTANCE_TYPES)), fc.integer({ min: 100, max: 2000 }), fc.integer({ min: 50, max: 16384 }),
            fc.integer({ min: 1, max: 364 }), fc.integer({ min: 1, max: 500 }),
            (instanceType, root, ws, days, extra) => {
                const a = estimateCost({ mode: "instance", instanceType, rootVolumeSizeGiB: root, workspaceSizeGiB: ws, snapshotRetentionDays: days });
                const b = estimateCost({ mode: "instance", instanceType, rootVolumeSizeGiB: root, workspaceSizeGiB: ws + extra, snapshotRetentionDays: days + 1 });
                assert.ok(a.stoppedPerMonth > 0 && a.runningPerHour > a.stoppedPerMonth / 730);
                assert.ok(b.stoppedPerMonth > a.stoppedPerMonth);
            },
        ), { numRuns: 100 });
    });
});
