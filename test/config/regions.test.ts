/**
 * Regions and GPU offerings: aws:region and backupCopyRegion must be regions botocore's partitions.json lists
 * (infra/data/regions.json, the same list as the API-rules table), and the stack's GPU families must be offered
 * there where a recorded describe-instance-type-offerings run probed it.
 */
import { strict as assert } from "assert";
import * as fs from "fs";
import * as path from "path";
import { AWS_REGIONS, gpuFamilyOffered } from "../../infra/data/regions";
import { clusterOverrides, parse, problems, refuses } from "../helpers/config";

const ROOT = path.join(__dirname, "..", "..");

describe("config: regions and GPU offerings (infra/data/regions.json)", () => {
    it("lists exactly the regions of the API-rules table (botocore partitions.json), with its source", () => {
        const rules = JSON.parse(fs.readFileSync(path.join(ROOT, "tools", "api-rules", "aws-api-rules.json"), "utf8"));
        assert.deepEqual([...AWS_REGIONS], rules.regions);
        const table = JSON.parse(fs.readFileSync(path.join(ROOT, "infra", "data", "regions.json"), "utf8"));
        assert.match(table.source.regions, new RegExp(`botocore ${rules.botocore.replace(/\./g, "\\.")} data/partitions\\.json`));
        assert.match(table.source.gpuOfferings, /describe-instance-type-offerings/);
        for (const [family, f] of Object.entries(table.gpuOfferings as Record<string, { probed: string[]; offered: string[] }>)) {
            assert.deepEqual(f.offered.filter((r) => !f.probed.includes(r)), [], `${family}: offered only where probed`);
            assert.deepEqual(f.probed.filter((r) => !AWS_REGIONS.includes(r)), [], `${family}: probed regions exist`);
        }
    });

    it("refuses a region that does not exist, naming the nearest one", () => {
        assert.equal(problems({ availabilityZone: "us-east-7a" }, "us-east-7")["aws:region"], "'us-east-7' is not an AWS region (botocore's partitions.json, infra/data/regions.json); did you mean 'us-east-1'?");
        assert.match(problems({ availabilityZone: "eu-westt-1a" }, "eu-westt-1")["aws:region"], /did you mean 'eu-west-1'\?/);
        refuses({ backupCopyRegion: "us-west-9", backupCopyKmsKeyArn: "arn:aws:kms:us-west-9:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab" }, "backupCopyRegion", /'us-west-9' is not an AWS region .*did you mean 'us-west-1'\?/);
    });

    it("refuses a GPU family a recorded offering run did not find in the region, and says where it is offered", () => {
        assert.equal(gpuFamilyOffered("g5", "af-south-1"), false);
        assert.equal(gpuFamilyOffered("g5", "eu-west-2"), true);
        const at = (region: string, o: Record<string, unknown> = {}) => problems({ availabilityZone: `${region}a`, ...o }, region);
        assert.deepEqual(Object.keys(at("af-south-1")), ["archaeo-workbench:instanceType"]);
        assert.match(at("af-south-1")["archaeo-workbench:instanceType"], /^g5 instances are not offered in af-south-1 \(recorded describe-instance-type-offerings, infra\/data\/regions\.json\); regions that offer them: .*eu-west-2.*npm run gen:regions -- --from-aws$/);
        assert.deepEqual(at("eu-west-2"), {}, "offered: accepted");
        // A family no recorded run probed is not judged.
        assert.equal(gpuFamilyOffered("g4dn", "af-south-1"), undefined);
        assert.deepEqual(at("af-south-1", { instanceType: "g4dn.xlarge" }), {});
        // Cluster mode: each GPU family of the node pools.
        const c = problems(clusterOverrides({ availabilityZone: "me-south-1a", instanceType: "g4dn.xlarge", gpuFamilies: ["g4dn", "g5"] }), "me-south-1");
        assert.match(c["archaeo-workbench:gpuFamilies[1]"], /^g5 instances are not offered in me-south-1/);
        assert.ok(parse({}, "us-east-1"));
    });
});
