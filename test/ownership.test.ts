/**
 * The ownership model (policies/lib/ownership.ts) built from the real stacks, as the engine hands
 * them to the pack (through tools/policy-runner's AnalyzeStack), and each kind of grant it reads
 * changed once: the change must show up in the model as a reach or a hold across researchers.
 */
import { strict as assert } from "assert";
import type { StackValidationPolicy } from "@pulumi/policy";
import type { RecordedResource } from "../tools/mock-engine";
import { runPolicies } from "../tools/policy-runner";
import { Holds, OwnershipModel, ownershipModel, pinnedValues, Reach, globReachesPrefix } from "../policies/lib/ownership";
import { statementsOf } from "../policies/lib/policy-document";
import { Deferrals } from "../policies/lib/unknowns";
import { holdsProblem, reachProblem, SERVICE_PURPOSES } from "../policies/rules/isolation";
import { fixture } from "./helpers/policy";
import { runStack } from "./helpers/program";

/** The model of a stack, built inside a stack policy run by the real analyzer code. */
async function modelOf(resources: readonly RecordedResource[]): Promise<OwnershipModel> {
    let model: OwnershipModel | undefined;
    const probe: StackValidationPolicy = {
        name: "probe", description: "probe", enforcementLevel: "mandatory",
        validateStack: async (args) => { model = await ownershipModel(args.resources, {}, new Deferrals()); },
    };
    await runPolicies(resources, { resource: [], stack: [probe] });
    assert.ok(model, "the probe ran");
    return model;
}

const problems = (m: OwnershipModel) => [
    ...m.reaches.map((r) => reachProblem(r, SERVICE_PURPOSES)),
    ...m.holds.map((h) => holdsProblem(h)),
].filter((x): x is string => x !== undefined);

const clone = async (stack: string) => structuredClone((await runStack(stack)).resources) as RecordedResource[];
const find = (rs: RecordedResource[], type: string, name: RegExp) => {
    const r = rs.find((x) => x.type === type && name.test(x.name));
    if (!r) throw new Error(`no ${type} ${name}`);
    return r;
};
/** Applies an edit to a resource's inputs and state alike, in both the plain and the wire (raw) forms: the engine hands stack policies the raw state. */
const edit = (r: RecordedResource, fn: (p: any) => void) => { for (const o of new Set([r.inputs, r.state, r.rawInputs, r.rawState])) fn(o); };
const docEdit = (r: RecordedResource, fn: (d: any) => void) => edit(r, (p) => { const d = JSON.parse(p.policy); fn(d); p.policy = JSON.stringify(d); });

const crossReach = (m: OwnershipModel, pred: (r: Reach) => boolean) => m.reaches.filter((r) => pred(r) && reachProblem(r, SERVICE_PURPOSES) !== undefined);
const crossHold = (m: OwnershipModel, pred: (h: Holds) => boolean) => m.holds.filter((h) => pred(h) && holdsProblem(h) !== undefined);

describe("the ownership model", function () {
    this.timeout(300_000);

    it("of every real stack: each researcher reaches their own prefix, token and host or home, nobody reaches another's", async () => {
        for (const stack of ["example", "uni-archaeology", "city-museum", "national-heritage"]) {
            const m = await modelOf((await runStack(stack)).resources);
            assert.ok(m.researchers.size >= 1, stack);
            assert.deepEqual(problems(m), [], stack);
            for (const id of m.researchers) {
                const own = m.reaches.filter((r) => r.asset.owner === id && r.principal.actsFor === id);
                const kinds = new Set(own.map((r) => r.asset.kind));
                assert.ok(kinds.has("s3-prefix"), `${stack}: ${id} reaches their S3 prefix (${[...kinds]})`);
                if (stack === "national-heritage") {
                    assert.ok(kinds.has("efs-home"), `${stack}: ${id}'s pods mount their EFS home`);
                    assert.ok(m.holds.some((h) => h.holder.actsFor === id && h.held.actsFor === id && h.holder.kind === "pods"), `${stack}: ${id}'s pods hold their own role`);
                    assert.ok(m.holds.some((h) => h.holder.kind === "server" && h.holder.actsFor === id && h.held.actsFor === id), `${stack}: ${id}'s server runs as their service account`);
                } else {
                    assert.ok(kinds.has("ssm-parameter") && kinds.has("host") && kinds.has("ebs-volume"), `${stack}: ${id} reaches their token, host and volume (${[...kinds]})`);
                    assert.ok(m.holds.some((h) => h.holder.kind === "host" && h.holder.actsFor === id && h.held.actsFor === id), `${stack}: ${id}'s workstation holds their own role`);
                }
            }
            // Every researcher's prefix is read by nobody else, and the datasets are read-only.
            assert.ok(m.reaches.some((r) => r.asset.owner === "(shared datasets)" && r.access === "read"), `${stack}: datasets read`);
            assert.ok(!m.reaches.some((r) => r.asset.owner === "(shared datasets)" && r.access === "write"), `${stack}: datasets never written`);
        }
    });

    describe("a change to each kind of grant shows up in it", () => {
        it("identity policy: a role's statement widened to researchers/*", async () => {
            const rs = await clone("uni-archaeology");
            const pol = find(rs, "aws:iam/rolePolicy:RolePolicy", /^archaeo-researcher-pi-policy$/);
            docEdit(pol, (d) => { for (const s of d.Statement) s.Resource = [].concat(s.Resource).map((x: string) => x.replace("researchers/pi/", "researchers/")); });
            const m = await modelOf(rs);
            assert.ok(crossReach(m, (r) => r.principal.actsFor === "pi" && r.asset.kind === "s3-prefix" && r.asset.owner === "phd-tiles").length > 0);
        });

        it("resource policy: a bucket-policy statement allowing the account root onto researchers/*", async () => {
            const rs = await clone("example");
            const pol = find(rs, "aws:s3/bucketPolicy:BucketPolicy", /datasets-policy/);
            const bucket = pol.inputs.bucket;
            docEdit(pol, (d) => d.Statement.push({ Sid: "QuickFix", Effect: "Allow", Principal: { AWS: "arn:aws:iam::123456789012:root" }, Action: ["s3:GetObject"], Resource: `arn:aws:s3:::${bucket}/researchers/*` }));
            const m = await modelOf(rs);
            const hits = crossReach(m, (r) => r.principal.kind === "outside" && r.asset.owner === "alice");
            assert.equal(hits.length, 1);
            assert.match(reachProblem(hits[0], SERVICE_PURPOSES)!, /every principal of account 123456789012/);
        });

        it("IAM users and groups: a user in a group whose policy reads a researcher's prefix", async () => {
            const rs = await clone("example");
            const bucket = find(rs, "aws:s3/bucketPolicy:BucketPolicy", /datasets-policy/).inputs.bucket;
            rs.push(fixture("aws:iam/user:User", "intern", { name: "intern" }), fixture("aws:iam/group:Group", "helpers", { name: "helpers" }),
                fixture("aws:iam/groupMembership:GroupMembership", "helpers-members", { group: "helpers", users: ["intern"] }),
                fixture("aws:iam/groupPolicy:GroupPolicy", "helpers-read", { group: "helpers", policy: JSON.stringify({ Version: "2012-10-17", Statement: [{ Sid: "Read", Effect: "Allow", Action: "s3:GetObject", Resource: `arn:aws:s3:::${bucket}/researchers/alice/*` }] }) }));
            const m = await modelOf(rs);
            const kinds = crossReach(m, (r) => r.asset.owner === "alice").map((r) => r.principal.kind).sort();
            assert.deepEqual(kinds, ["iam-group", "iam-user"]);
        });

        it("pairing: a volume attached to another researcher's workstation, a workstation with another's instance profile", async () => {
            const rs = await clone("uni-archaeology");
            const att = find(rs, "aws:ec2/volumeAttachment:VolumeAttachment", /phd-tiles/);
            const piInstance = find(rs, "aws:ec2/instance:Instance", /-pi-instance$/);
            edit(att, (p) => { p.instanceId = piInstance.state.id; });
            const tiles = find(rs, "aws:ec2/instance:Instance", /phd-sherds-instance$/);
            edit(tiles, (p) => { p.iamInstanceProfile = piInstance.inputs.iamInstanceProfile; });
            const m = await modelOf(rs);
            assert.equal(crossReach(m, (r) => r.principal.kind === "host" && r.principal.actsFor === "pi" && r.asset.kind === "ebs-volume" && r.asset.owner === "phd-tiles").length, 1);
            assert.equal(crossHold(m, (h) => h.holder.actsFor === "phd-sherds" && h.held.actsFor === "pi").length, 1);
        });

        it("PersistentVolume: another researcher's EFS access point behind a researcher's claim", async () => {
            const rs = await clone("national-heritage");
            const mine = find(rs, "kubernetes:core/v1:PersistentVolume", /archivist-pv-jobs-home$/);
            const theirs = find(rs, "kubernetes:core/v1:PersistentVolume", /imaging-lead-pv-jobs-home$/);
            edit(mine, (p) => { p.spec.csi.volumeHandle = theirs.inputs.spec.csi.volumeHandle; });
            const m = await modelOf(rs);
            assert.ok(crossReach(m, (r) => r.principal.actsFor === "archivist" && r.asset.kind === "efs-home" && r.asset.owner === "imaging-lead").length > 0);
        });

        it("Pod Identity: a researcher's service account given another researcher's pods role", async () => {
            const rs = await clone("national-heritage");
            const a = find(rs, "aws:eks/podIdentityAssociation:PodIdentityAssociation", /archivist-pods-jobs$/);
            const other = find(rs, "aws:eks/podIdentityAssociation:PodIdentityAssociation", /ml-engineer-pods-jobs$/);
            edit(a, (p) => { p.roleArn = other.inputs.roleArn; });
            const m = await modelOf(rs);
            assert.equal(crossHold(m, (h) => h.holder.actsFor === "archivist" && h.held.actsFor === "ml-engineer").length, 1);
        });

        it("EKS access entry: a researcher's role mapped to another researcher's Kubernetes user", async () => {
            const rs = await clone("national-heritage");
            const e = find(rs, "aws:eks/accessEntry:AccessEntry", /archivist-access$/);
            edit(e, (p) => { p.userName = "archaeo:imaging-lead"; });
            const m = await modelOf(rs);
            assert.equal(crossHold(m, (h) => h.holder.actsFor === "archivist" && h.held.actsFor === "imaging-lead").length, 1);
        });

        it("RBAC: a ServiceAccount of another namespace bound to exec in a researcher's namespace; a read-only cluster-wide binding reaches nothing", async () => {
            const rs = await clone("national-heritage");
            rs.push(fixture("kubernetes:rbac.authorization.k8s.io/v1:ClusterRole", "viewer", { metadata: { name: "monitoring-read" }, rules: [{ apiGroups: [""], resources: ["pods", "nodes", "services", "endpoints", "events"], verbs: ["get", "list", "watch"] }] }),
                fixture("kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding", "viewer-binding", { metadata: { name: "monitoring-read" }, roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "monitoring-read" }, subjects: [{ kind: "ServiceAccount", name: "prometheus", namespace: "monitoring" }] }));
            assert.deepEqual(problems(await modelOf(rs)), [], "read-only monitoring reaches no data");
            rs.push(fixture("kubernetes:rbac.authorization.k8s.io/v1:Role", "debug", { metadata: { name: "debug", namespace: "researcher-archivist" }, rules: [{ apiGroups: [""], resources: ["pods/exec"], verbs: ["create"] }] }),
                fixture("kubernetes:rbac.authorization.k8s.io/v1:RoleBinding", "debug-binding", { metadata: { name: "debug", namespace: "researcher-archivist" }, roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "debug" }, subjects: [{ kind: "ServiceAccount", name: "researcher", namespace: "researcher-ml-engineer" }] }));
            const m = await modelOf(rs);
            const hits = crossReach(m, (r) => r.asset.kind === "namespace" && r.asset.owner === "archivist");
            assert.equal(hits.length, 1);
            assert.equal(hits[0].principal.actsFor, "ml-engineer");
        });

        it("hub values: every server given one researcher's service account or claim", async () => {
            const rs = await clone("national-heritage");
            const hub = rs.find((x) => x.type === "kubernetes:helm.sh/v3:Release" && /jupyterhub$/.test(String(x.inputs.chart)))!;
            edit(hub, (p) => {
            const values = p.values.value ?? p.values; // a secret input arrives wrapped in its wire form
            values.singleuser.serviceAccountName = "researcher-archivist";
                values.singleuser.storage.extraVolumes[0].persistentVolumeClaim.claimName = "home-archivist";
            });
            const m = await modelOf(rs);
            assert.ok(crossHold(m, (h) => h.holder.kind === "server" && h.holder.actsFor === "imaging-lead" && h.held.actsFor === "archivist").length === 1);
            assert.ok(crossReach(m, (r) => r.principal.kind === "server" && r.principal.actsFor === "ml-engineer" && r.asset.owner === "archivist").length > 0);
        });
    });

    describe("conditions are judged by value", () => {
        const st = (cond: unknown) => statementsOf({ Statement: [{ Effect: "Allow", Action: "ec2:StartInstances", Resource: "*", Condition: cond }] })![0];
        it("a literal tag pin scopes; a wildcard value, ForAllValues and IfExists do not", () => {
            assert.deepEqual(pinnedValues(st({ StringEquals: { "aws:ResourceTag/researcher": "pi" } }), "*:ResourceTag/researcher"), ["pi"]);
            assert.equal(pinnedValues(st({ StringLike: { "aws:ResourceTag/researcher": "*" } }), "*:ResourceTag/researcher"), undefined);
            assert.equal(pinnedValues(st({ "ForAllValues:StringEquals": { "aws:ResourceTag/researcher": "pi" } }), "*:ResourceTag/researcher"), undefined);
            assert.equal(pinnedValues(st({ StringEqualsIfExists: { "aws:ResourceTag/researcher": "pi" } }), "*:ResourceTag/researcher"), undefined);
        });
        it("a glob reaches a prefix when some string under it matches", () => {
            assert.ok(globReachesPrefix("arn:aws:s3:::b/researchers/*", "arn:aws:s3:::b/researchers/pi/"));
            assert.ok(globReachesPrefix("arn:aws:s3:::b/*", "arn:aws:s3:::b/researchers/pi/"));
            assert.ok(globReachesPrefix("arn:aws:s3:::b/researchers/p?/*", "arn:aws:s3:::b/researchers/pi/"));
            assert.ok(!globReachesPrefix("arn:aws:s3:::b/researchers/pi/*", "arn:aws:s3:::b/researchers/phd/"));
            assert.ok(!globReachesPrefix("arn:aws:s3:::b/datasets/*", "arn:aws:s3:::b/researchers/pi/"));
        });
        it("a tag-pinned wildcard statement reaches only the pinned researcher's workstation; the same statement pinned to '*' reaches everyone's", async () => {
            const rs = await clone("uni-archaeology");
            const pol = find(rs, "aws:iam/rolePolicy:RolePolicy", /^archaeo-researcher-pi-policy$/);
            docEdit(pol, (d) => d.Statement.push({ Sid: "Pinned", Effect: "Allow", Action: "ec2:StopInstances", Resource: "arn:aws:ec2:*:*:instance/*", Condition: { StringEquals: { "aws:ResourceTag/researcher": "pi" } } }));
            assert.deepEqual(problems(await modelOf(rs)), []);
            docEdit(pol, (d) => { d.Statement[d.Statement.length - 1].Condition = { StringLike: { "aws:ResourceTag/researcher": "*" } }; });
            const m = await modelOf(rs);
            assert.deepEqual(crossReach(m, (r) => r.principal.actsFor === "pi" && r.asset.kind === "host").map((r) => r.asset.owner).sort(), ["phd-sherds", "phd-tiles"]);
        });
    });
});
