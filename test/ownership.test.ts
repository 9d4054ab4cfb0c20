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
const docEdit = (r: RecordedResource, fn: (d: any) => void, prop = "policy") => edit(r, (p) => { const d = JSON.parse(p[prop]); fn(d); p[prop] = JSON.stringify(d); });

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
            rs.push(fixture("kubernetes:rbac.authorization.k8s.io/v1:ClusterRole", "viewer", { metadata: { name: "monitoring-read" }, rules: [{ apiGroups: [""], resources: ["nodes", "namespaces", "services", "endpoints", "events"], verbs: ["get", "list", "watch"] }] }),
                fixture("kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding", "viewer-binding", { metadata: { name: "monitoring-read" }, roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "monitoring-read" }, subjects: [{ kind: "ServiceAccount", name: "prometheus", namespace: "monitoring" }] }));
            assert.deepEqual(problems(await modelOf(rs)), [], "read-only monitoring of nodes and services reaches no data");
            // Listing pods is not harmless in the hub's namespace: a server pod's spec carries its JUPYTERHUB_API_TOKEN.
            const withPods = structuredClone(rs);
            edit(withPods.find((r) => r.name === "viewer")!, (p) => { p.rules[0].resources.push("pods"); });
            const servers = crossReach(await modelOf(withPods), (r) => r.asset.kind === "server" && r.principal.name === "monitoring/prometheus");
            assert.deepEqual(servers.map((r) => r.asset.owner).sort(), ["archivist", "imaging-lead", "ml-engineer"]);
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

    describe("what a cold review found it missed (each fails on the model before the fix)", () => {
        it("hosts through Systems Manager and EC2 Instance Connect, snapshots through the EBS direct APIs", async () => {
            const rs = await clone("uni-archaeology");
            const hosts = rs.filter((r) => r.type === "aws:ec2/instance:Instance").map((r) => r.state.arn);
            rs.push(fixture("aws:iam/user:User", "ops", { name: "ops" }), fixture("aws:iam/userPolicy:UserPolicy", "ops-run", { user: "ops", policy: JSON.stringify({ Version: "2012-10-17", Statement: [
                { Sid: "Run", Effect: "Allow", Action: ["ssm:SendCommand", "ec2-instance-connect:SendSSHPublicKey"], Resource: hosts },
                { Sid: "Blocks", Effect: "Allow", Action: ["ebs:GetSnapshotBlock", "ebs:ListSnapshotBlocks"], Resource: "arn:aws:ec2:*::snapshot/*" },
            ] }) }));
            const m = await modelOf(rs);
            const kinds = (k: string) => crossReach(m, (r) => r.principal.kind === "iam-user" && r.asset.kind === k).map((r) => r.asset.owner).sort();
            assert.deepEqual(kinds("host"), ["phd-sherds", "phd-tiles", "pi"]);
            assert.deepEqual(kinds("snapshot"), ["phd-sherds", "phd-tiles", "pi"]);
        });

        it("the hub's values in every shape the chart takes: hub.config.KubeSpawner, volumes as a dict, static storage, another's SSH keys", async () => {
            const variants: Array<[string, (v: any) => void]> = [
                ["hub.config.KubeSpawner.service_account", (v) => { v.hub.config.KubeSpawner = { service_account: "researcher-archivist" }; }],
                ["hub.config.KubeSpawner.volumes", (v) => { v.hub.config.KubeSpawner = { volumes: [{ name: "home", persistentVolumeClaim: { claimName: "home-archivist" } }] }; }],
                ["extraVolumes as a dict", (v) => { v.singleuser.storage.extraVolumes = { home: { persistentVolumeClaim: { claimName: "home-archivist" } } }; }],
                ["static storage", (v) => { v.singleuser.storage = { ...v.singleuser.storage, type: "static", static: { pvcName: "home-archivist", subPath: "" } }; }],
                ["another's SSH keys", (v) => { for (const x of v.singleuser.storage.extraVolumes) if (x.configMap) x.configMap.name = "ssh-keys-archivist"; }],
            ];
            for (const [what, change] of variants) {
                const rs = await clone("national-heritage");
                const hub = rs.find((x) => x.type === "kubernetes:helm.sh/v3:Release" && /jupyterhub$/.test(String(x.inputs.chart)))!;
                edit(hub, (p) => change(p.values.value ?? p.values));
                const m = await modelOf(rs);
                const hits = [...crossReach(m, (r) => r.asset.owner === "archivist" || r.principal.actsFor === "archivist"), ...crossHold(m, (h) => h.held.actsFor === "archivist")];
                assert.ok(hits.length > 0, what);
            }
        });

        it("Pod Identity through an EKS add-on, a spot request's instance profile, RBAC in the hub's namespace, a role the stack does not define", async () => {
            const rs = await clone("national-heritage");
            const addon = rs.find((r) => r.type === "aws:eks/addon:Addon" && Array.isArray(r.inputs.podIdentityAssociations))!;
            const pods = rs.find((r) => r.type === "aws:iam/role:Role" && /imaging-lead-pods-role$/.test(r.name))!;
            edit(addon, (p) => { p.podIdentityAssociations[0].roleArn = pods.state.arn; });
            rs.push(fixture("kubernetes:rbac.authorization.k8s.io/v1:Role", "hub-debug", { metadata: { name: "debug", namespace: "jupyterhub" }, rules: [{ apiGroups: [""], resources: ["pods/exec"], verbs: ["create"] }] }),
                fixture("kubernetes:rbac.authorization.k8s.io/v1:RoleBinding", "hub-debug-binding", { metadata: { name: "debug", namespace: "jupyterhub" }, roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "debug" }, subjects: [{ kind: "User", name: "archaeo:ml-engineer" }] }),
                fixture("kubernetes:rbac.authorization.k8s.io/v1:RoleBinding", "aggregate", { metadata: { name: "aggregate", namespace: "researcher-archivist" }, roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "system:aggregate-to-edit" }, subjects: [{ kind: "User", name: "archaeo:imaging-lead" }] }));
            const m = await modelOf(rs);
            assert.equal(crossHold(m, (h) => h.held.actsFor === "imaging-lead" && h.holder.kind === "pods" && h.holder.name.startsWith("kube-system/")).length, 1, "add-on association");
            assert.deepEqual(crossReach(m, (r) => r.principal.actsFor === "ml-engineer" && r.asset.kind === "server").map((r) => r.asset.owner).sort(), ["archivist", "imaging-lead"], "exec in the hub's namespace");
            assert.match(reachProblem(crossReach(m, (r) => r.asset.kind === "namespace" && r.asset.owner === "archivist")[0], SERVICE_PURPOSES)!, /system:aggregate-to-edit is not defined by the stack/);
            const inst = await clone("uni-archaeology");
            const profile = inst.find((r) => r.type === "aws:ec2/instance:Instance" && /-pi-instance$/.test(r.name))!.inputs.iamInstanceProfile;
            inst.push(fixture("aws:ec2/spotInstanceRequest:SpotInstanceRequest", "tiles-spot", { iamInstanceProfile: profile, tags: { researcher: "phd-tiles" } }));
            assert.equal(crossHold(await modelOf(inst), (h) => h.holder.actsFor === "phd-tiles" && h.held.actsFor === "pi").length, 1, "spot request");
        });

        it("${aws:PrincipalTag/researcher} in a condition is the role's own tag when no session tag can override it, and anyone's when one can", async () => {
            const rs = await clone("uni-archaeology");
            const pol = find(rs, "aws:iam/rolePolicy:RolePolicy", /^archaeo-researcher-pi-policy$/);
            docEdit(pol, (d) => d.Statement.push({ Sid: "Abac", Effect: "Allow", Action: "ec2:StopInstances", Resource: "arn:aws:ec2:*:*:instance/*", Condition: { StringEquals: { "ec2:ResourceTag/researcher": "${aws:PrincipalTag/researcher}" } } }));
            assert.deepEqual(problems(await modelOf(rs)), []);
            const role = find(rs, "aws:iam/role:Role", /^archaeo-researcher-pi-role$/);
            docEdit(role, (d) => { d.Statement[0].Action = [].concat(d.Statement[0].Action).concat(["sts:TagSession"] as never[]); }, "assumeRolePolicy");
            assert.deepEqual(crossReach(await modelOf(rs), (r) => r.principal.actsFor === "pi" && r.asset.kind === "host").map((r) => r.asset.owner).sort(), ["phd-sherds", "phd-tiles"]);
        });
    });

    describe("JupyterHub's own grants and EKS access policies reach servers through the hub and the API server", () => {
        it("a hub service with access:servers or admin, and a researcher's role with an EKS view policy, reach other researchers' servers", async () => {
            const rs = await clone("national-heritage");
            const hub = rs.find((x) => x.type === "kubernetes:helm.sh/v3:Release" && /jupyterhub$/.test(String(x.inputs.chart)))!;
            edit(hub, (p) => {
                const v = p.values.value ?? p.values;
                v.hub.loadRoles = { ...(v.hub.loadRoles ?? {}), report: { scopes: ["access:servers", "read:users"], services: ["usage-report"] } };
                v.hub.services = { ...(v.hub.services ?? {}), backup: { admin: true } };
            });
            const role = find(rs, "aws:iam/role:Role", /ml-engineer-identity-role$/);
            rs.push(fixture("aws:eks/accessPolicyAssociation:AccessPolicyAssociation", "ml-view", { clusterName: "c", principalArn: role.state.arn, policyArn: "arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy", accessScope: { type: "cluster" } }));
            const m = await modelOf(rs);
            const servers = (who: RegExp) => crossReach(m, (r) => r.asset.kind === "server" && who.test(r.principal.label)).map((r) => r.asset.owner).sort();
            assert.deepEqual(servers(/service usage-report/), ["archivist", "imaging-lead", "ml-engineer"]);
            assert.deepEqual(servers(/service backup/), ["archivist", "imaging-lead", "ml-engineer"]);
            assert.deepEqual(servers(/ml-engineer-identity-role/), ["archivist", "imaging-lead"]);
            // Reading only (read:users) is not reaching: without access:servers the role grants nothing of a server.
            edit(hub, (p) => { const v = p.values.value ?? p.values; v.hub.loadRoles.report.scopes = ["read:users", "list:users"]; delete v.hub.services.backup; });
            assert.deepEqual(servers.call(null, /service usage-report/), ["archivist", "imaging-lead", "ml-engineer"], "the model above is a snapshot");
            const m2 = await modelOf(rs);
            assert.deepEqual(crossReach(m2, (r) => /JupyterHub service/.test(r.principal.label)), []);
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
