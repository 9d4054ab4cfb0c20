/**
 * An in-process stand-in for the Pulumi engine, for tests and the offline plan: no cloud, no CLI.
 *
 * - `pulumi.runtime.setMocks` with a strict `call` (unknown invoke tokens throw) and a `newResource`
 *   that echoes inputs as state plus the few computed outputs downstream code reads (ids, ARNs, URLs,
 *   the pushed image digest), all derived deterministically from the resource's type and name, in the
 *   region of the resource's own AWS provider.
 * - Preview mode reproduces a first `pulumi preview`: `setMocks(..., preview = true)` makes the SDK
 *   run as a dry run, and providers answer with inputs only: every computed output is the wire
 *   sentinel for an unknown (runtime/rpc.ts `unknownValue`), which the SDK deserialises to an
 *   unknown Output (`deserializeProperty`: unknownValue -> unknown when isDryRun()), and the id is
 *   empty, which the SDK resolves as unknown in a dry run (runtime/resource.ts). Invokes still
 *   answer (data sources are read during a preview too).
 * - The mock monitor's registerResource is wrapped to record what the real engine would receive:
 *   the request's own wire form (unknowns as sentinels, secrets as signature objects) and type,
 *   name, parent, provider, protect, retainOnDelete, deleteBeforeReplace, ignoreChanges,
 *   additionalSecretOutputs.
 * - Each run configures the engine with its own project, stack and preview flag (setMocks again), so
 *   URNs and ARNs never carry a previous program's settings.
 */
import * as crypto from "crypto";
import * as pulumi from "@pulumi/pulumi";
import { cheapSdkStackTraces } from "./sdk-stacks";

export interface RecordedResource {
    readonly type: string;
    readonly name: string;
    readonly urn: string;
    readonly custom: boolean;
    /** URN of the parent ("" for the stack's direct children). */
    readonly parent: string;
    /** Provider reference ("urn::id") or "" for the default provider. */
    readonly provider: string;
    readonly protect: boolean;
    readonly retainOnDelete: boolean;
    readonly deleteBeforeReplace: boolean;
    readonly ignoreChanges: readonly string[];
    readonly dependencies: readonly string[];
    /** Outputs the program asked the engine to treat as secret (e.g. clientSecret of a Cognito client). */
    readonly additionalSecretOutputs?: readonly string[];
    /** Dotted paths of input values that are Pulumi secrets, e.g. "values.hub.config.GenericOAuthenticator.client_secret". */
    readonly secretPaths?: readonly string[];
    /** Inputs with secret wrappers removed (see `secretInputs`); unknown values (preview) are UNKNOWN_VALUE. */
    readonly inputs: Record<string, any>;
    /** Top-level input names whose value is, or contains, a Pulumi secret. */
    readonly secretInputs: readonly string[];
    /** Inputs plus mocked computed outputs, as the engine would report after create. */
    readonly state: Record<string, any>;
    /** Inputs and state in the engine's wire form (secrets as signature objects), for the policy runner. */
    readonly rawInputs: Record<string, any>;
    readonly rawState: Record<string, any>;
    readonly id: string;
}

export interface InvokeRecord {
    readonly token: string;
    readonly args: Record<string, any>;
}

export interface MockEngineOptions {
    project?: string;
    stack?: string;
    accountId?: string;
    /** Region of ARNs for resources whose provider names none (the AWS provider's region wins). */
    region?: string;
    /** Reproduce a first `pulumi preview`: dry run, computed outputs unknown. */
    preview?: boolean;
    /** What AWS answers that is not the program's: a new AMI release, a moved add-on default (tools/lifecycle.ts events). */
    world?: MockWorld;
}

/** Provider-side facts that change without a config change, for the lifecycle rehearsal. */
export interface MockWorld {
    /** Values of public SSM parameters (AMI ids AWS publishes) other than the stand-ins: a new AMI release. */
    readonly ssmParameters?: Readonly<Record<string, string>>;
    /** EKS add-on default versions by `<addonName>@<kubernetesVersion>` other than the stand-ins: AWS moved a default. */
    readonly addonVersions?: Readonly<Record<string, string>>;
}

export const MOCK_ACCOUNT_ID = "123456789012";

/** The wire form of an unknown value (pulumi runtime/rpc.ts `unknownValue`, the engine's UnknownStringValue). */
export const UNKNOWN_VALUE = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

/** The SDK's marker for a serialized secret ({ [SECRET_SIG]: SECRET_VALUE, value }). */
const SECRET_SIG = "4dabf18193072939515e22adb298388d";
const SECRET_VALUE = "1b47061264138c4ac30d75fd1eb44270";

function isSecretWrapper(v: any): boolean {
    return !!v && typeof v === "object" && v[SECRET_SIG] === SECRET_VALUE;
}

/** Dotted paths at which `v` holds a secret wrapper. */
export function secretPathsOf(v: any, path = ""): string[] {
    if (isSecretWrapper(v)) return [path];
    if (Array.isArray(v)) return v.flatMap((x, i) => secretPathsOf(x, `${path}[${i}]`));
    if (v && typeof v === "object") return Object.entries(v).flatMap(([k, x]) => secretPathsOf(x, path ? `${path}.${k}` : k));
    return [];
}

/**
 * The preview answer of a provider: the inputs, with every computed output not among them unknown
 * (nested computed fields inside an input object too, e.g. an EKS cluster's
 * vpcConfig.clusterSecurityGroupId).
 */
function previewState(inputs: Record<string, any>, computedOutputs: Record<string, any>): Record<string, any> {
    const out: Record<string, any> = { ...inputs };
    for (const [k, v] of Object.entries(computedOutputs)) {
        const given = inputs[k];
        if (given === undefined) out[k] = UNKNOWN_VALUE;
        else if (given && typeof given === "object" && !Array.isArray(given) && v && typeof v === "object" && !Array.isArray(v)) out[k] = previewState(given, v);
    }
    return out;
}

/** Removes secret wrappers; reports whether any was found. */
export function unwrapSecrets(v: any): { value: any; secret: boolean } {
    if (isSecretWrapper(v)) return { value: unwrapSecrets(v.value).value, secret: true };
    if (Array.isArray(v)) {
        const items = v.map(unwrapSecrets);
        return { value: items.map((i) => i.value), secret: items.some((i) => i.secret) };
    }
    if (v && typeof v === "object") {
        let secret = false;
        const out: Record<string, any> = {};
        for (const [k, x] of Object.entries(v)) {
            const u = unwrapSecrets(x);
            out[k] = u.value;
            secret = secret || u.secret;
        }
        return { value: out, secret };
    }
    return { value: v, secret: false };
}

function hex(seed: string, n: number): string {
    return crypto.createHash("sha256").update(seed).digest("hex").slice(0, n);
}

/** Computed outputs a real provider would fill in, derived from type + name only. */
function computed(type: string, name: string, inputs: Record<string, any>, account: string, region: string): { id: string; extra: Record<string, any> } {
    const h = (n: number) => hex(`${type}/${name}`, n);
    const arn = (svc: string, res: string, r = region) => `arn:aws:${svc}:${r}:${account}:${res}`;
    switch (type) {
        case "aws:ec2/vpc:Vpc": return { id: `vpc-${h(17)}`, extra: { arn: arn("ec2", `vpc/vpc-${h(17)}`) } };
        case "aws:ec2/subnet:Subnet": return { id: `subnet-${h(17)}`, extra: {} };
        case "aws:ec2/internetGateway:InternetGateway": return { id: `igw-${h(17)}`, extra: {} };
        case "aws:ec2/routeTable:RouteTable": return { id: `rtb-${h(17)}`, extra: {} };
        case "aws:ec2/securityGroup:SecurityGroup": return { id: `sg-${h(17)}`, extra: {} };
        case "aws:ec2/vpcEndpoint:VpcEndpoint": return { id: `vpce-${h(17)}`, extra: {} };
        case "aws:ec2/instance:Instance": {
            const id = `i-${h(17)}`;
            return { id, extra: { arn: arn("ec2", `instance/${id}`), publicIp: "198.51.100.10", privateIp: "10.42.0.10", primaryNetworkInterfaceId: `eni-${h(17)}` } };
        }
        case "aws:ec2/launchTemplate:LaunchTemplate": return { id: `lt-${h(17)}`, extra: { arn: arn("ec2", `launch-template/lt-${h(17)}`), latestVersion: 1 } };
        case "aws:eks/cluster:Cluster": {
            const clusterName = inputs.name ?? name;
            return {
                id: clusterName,
                extra: {
                    name: clusterName,
                    arn: arn("eks", `cluster/${clusterName}`),
                    endpoint: `https://${h(32).toUpperCase()}.gr7.${region}.eks.amazonaws.com`,
                    certificateAuthority: { data: Buffer.from(`mock-ca-${clusterName}`).toString("base64") },
                    vpcConfig: { ...(inputs.vpcConfig ?? {}), clusterSecurityGroupId: `sg-${h(17)}` },
                },
            };
        }
        case "aws:sqs/queue:Queue": {
            const q = inputs.name ?? name;
            return { id: `https://sqs.${region}.amazonaws.com/${account}/${q}`, extra: { arn: arn("sqs", q), url: `https://sqs.${region}.amazonaws.com/${account}/${q}`, name: q } };
        }
        case "aws:efs/fileSystem:FileSystem": return { id: `fs-${h(17)}`, extra: { arn: arn("elasticfilesystem", `file-system/fs-${h(17)}`) } };
        // Pulumi autonames `<name>-<7 hex>` (tfbridge NewUniqueHex with randlen 7).
        case "aws:cloudwatch/eventRule:EventRule": return { id: `${name}-${h(7)}`, extra: { name: `${name}-${h(7)}`, arn: arn("events", `rule/${name}`) } };
        case "aws:cloudwatch/logGroup:LogGroup": return { id: inputs.name ?? name, extra: { arn: arn("logs", `log-group:${inputs.name ?? name}`) } };
        case "aws:ebs/volume:Volume": {
            // A volume restored from a snapshot is a new volume (snapshotId forces replacement): a new id, so what reads
            // it (the attachment, the workstation's user data) changes in a --diff as it would in `pulumi preview`.
            // Volumes without one keep the id of type + name.
            const id = `vol-${inputs.snapshotId ? hex(`${type}/${name}@${inputs.snapshotId}`, 17) : h(17)}`;
            return { id, extra: { arn: arn("ec2", `volume/${id}`) } };
        }
        case "aws:kms/key:Key": {
            const keyId = `${h(8)}-${h(12).slice(8)}-4${h(15).slice(12)}-8${h(18).slice(15)}-${hex(name, 12)}`;
            return { id: keyId, extra: { keyId, arn: arn("kms", `key/${keyId}`) } };
        }
        case "aws:s3/bucket:Bucket": {
            const bucket = inputs.bucket ?? `${name}-${h(7)}`;
            return { id: bucket, extra: { bucket, arn: `arn:aws:s3:::${bucket}` } };
        }
        case "aws:ecr/repository:Repository": {
            const repoName = inputs.name ?? name;
            return {
                id: repoName,
                extra: { arn: arn("ecr", `repository/${repoName}`), registryId: account, repositoryUrl: `${account}.dkr.ecr.${region}.amazonaws.com/${repoName}` },
            };
        }
        case "aws:iam/role:Role": return { id: inputs.name ?? name, extra: { arn: `arn:aws:iam::${account}:role/${inputs.name ?? name}`, name: inputs.name ?? name } };
        case "aws:iam/policy:Policy": return { id: `arn:aws:iam::${account}:policy/${inputs.name ?? name}`, extra: { arn: `arn:aws:iam::${account}:policy/${inputs.name ?? name}`, policyId: `ANPA${h(17).toUpperCase()}` } };
        case "aws:budgets/budget:Budget": return { id: `${account}:${inputs.name ?? name}`, extra: { arn: `arn:aws:budgets::${account}:budget/${inputs.name ?? name}` } };
        case "aws:budgets/budgetAction:BudgetAction": {
            // ActionId: a UUID (botocore budgets ExecuteBudgetAction ActionId, fixed length 36).
            const u = h(32);
            const actionId = `${u.slice(0, 8)}-${u.slice(8, 12)}-${u.slice(12, 16)}-${u.slice(16, 20)}-${u.slice(20, 32)}`;
            return { id: `${account}:${actionId}:${inputs.budgetName}`, extra: { actionId, arn: `arn:aws:budgets::${account}:budget/${inputs.budgetName}/action/${actionId}`, status: "STANDBY" } };
        }
        case "aws:iam/instanceProfile:InstanceProfile": return { id: inputs.name ?? name, extra: { arn: `arn:aws:iam::${account}:instance-profile/${inputs.name ?? name}`, name: inputs.name ?? name } };
        case "aws:ssm/parameter:Parameter": return { id: inputs.name, extra: { arn: arn("ssm", `parameter${inputs.name}`) } };
        case "aws:kms/alias:Alias": return { id: inputs.name, extra: { arn: arn("kms", inputs.name) } };
        case "random:index/randomPassword:RandomPassword": return { id: "none", extra: { result: `mock-${h(40)}` } };
        case "aws:cognito/userPool:UserPool": return { id: `${region}_${h(9)}`, extra: { arn: arn("cognito-idp", `userpool/${region}_${h(9)}`) } };
        case "aws:cognito/userPoolClient:UserPoolClient": return { id: h(26), extra: { clientSecret: `mock-secret-${h(40)}` } };
        case "aws:efs/accessPoint:AccessPoint": return { id: `fsap-${h(17)}`, extra: { arn: arn("elasticfilesystem", `access-point/fsap-${h(17)}`) } };
        case "aws:sns/topic:Topic": return { id: arn("sns", inputs.name ?? name), extra: { arn: arn("sns", inputs.name ?? name) } };
        case "aws:lambda/function:Function": return { id: inputs.name ?? name, extra: { arn: arn("lambda", `function:${inputs.name ?? name}`), invokeArn: `arn:aws:apigateway:${region}:lambda:path/2015-03-31/functions/${arn("lambda", `function:${inputs.name ?? name}`)}/invocations` } };
        case "aws:cloudtrail/trail:Trail": return { id: inputs.name ?? name, extra: { arn: arn("cloudtrail", `trail/${inputs.name ?? name}`) } };
        case "docker:index/image:Image": {
            const repo = String(inputs.imageName ?? name).replace(/:[^:/]+$/, "");
            return { id: `sha256:${h(64)}`, extra: { repoDigest: `${repo}@sha256:${hex(`${inputs.imageName}`, 64)}` } };
        }
        default: return { id: `${name}-id`, extra: { arn: arn("mock", `${type}/${name}`) } };
    }
}

/** Read-only queries over a set of recorded resources. */
export class ResourceView {
    constructor(readonly resources: readonly RecordedResource[], readonly invokes: readonly InvokeRecord[] = [], readonly warnings: readonly string[] = []) {}

    byType(type: string): RecordedResource[] {
        return this.resources.filter((r) => r.type === type);
    }

    one(type: string, name?: string): RecordedResource {
        const found = this.resources.filter((r) => r.type === type && (name === undefined || r.name === name));
        if (found.length !== 1) throw new Error(`expected one ${type}${name ? ` named ${name}` : ""}, found ${found.length}: ${found.map((f) => f.name).join(", ")}`);
        return found[0];
    }

    /** A frozen copy: later programs evaluated by the same engine do not change it. */
    snapshot(): ResourceView {
        return new ResourceView([...this.resources], [...this.invokes], [...this.warnings]);
    }
}

type Pending = Omit<RecordedResource, "inputs" | "secretInputs" | "state" | "rawState" | "id">;

export class MockEngine extends ResourceView {
    declare readonly resources: RecordedResource[];
    declare readonly invokes: InvokeRecord[];
    /** Warnings the program logged (pulumi.log.warn), instead of printing them. */
    declare readonly warnings: string[];
    private readonly pending = new Map<string, Pending>();
    /** Region of each AWS provider registered in this run, by URN. */
    private readonly providerRegions = new Map<string, string>();
    private settings: Required<MockEngineOptions>;

    constructor(opts: MockEngineOptions = {}) {
        super([], []);
        this.settings = MockEngine.resolve(opts);
    }

    static resolve(opts: MockEngineOptions): Required<MockEngineOptions> {
        return {
            project: opts.project ?? "archaeo-workbench",
            stack: opts.stack ?? "test",
            accountId: opts.accountId ?? MOCK_ACCOUNT_ID,
            region: opts.region ?? "us-east-1",
            preview: opts.preview ?? false,
            world: opts.world ?? {},
        };
    }

    get accountId(): string { return this.settings.accountId; }
    get region(): string { return this.settings.region; }
    get stack(): string { return this.settings.stack; }
    get project(): string { return this.settings.project; }
    get preview(): boolean { return this.settings.preview; }

    /**
     * Points the SDK at this engine for one program run with these settings: setMocks again (new
     * project, stack, dry-run flag and monitor), the monitor wrapped to record requests, state cleared.
     */
    async configure(opts: MockEngineOptions = {}): Promise<this> {
        this.settings = MockEngine.resolve(opts);
        this.reset();
        await pulumi.runtime.setMocks(this.mocks(), this.settings.project, this.settings.stack, this.settings.preview);
        const runtimeSettings = require("@pulumi/pulumi/runtime/settings");
        const monitor = runtimeSettings.getMonitor();
        const original = monitor.registerResource.bind(monitor);
        monitor.registerResource = (req: any, callback: any) => {
            this.pending.set(`${req.getType()}::${req.getName()}`, {
                type: req.getType(),
                name: req.getName(),
                urn: monitor.newUrn(req.getParent(), req.getType(), req.getName()),
                custom: !!req.getCustom(),
                parent: req.getParent() ?? "",
                provider: req.getProvider() ?? "",
                protect: !!req.getProtect(),
                retainOnDelete: !!req.getRetainondelete(),
                deleteBeforeReplace: !!req.getDeletebeforereplace(),
                ignoreChanges: req.getIgnorechangesList() ?? [],
                dependencies: req.getDependenciesList() ?? [],
                additionalSecretOutputs: req.getAdditionalsecretoutputsList() ?? [],
                // The request's wire form: what the engine receives (unknowns as sentinels, secrets wrapped).
                rawInputs: req.getObject()?.toJavaScript() ?? {},
            });
            return original(req, callback);
        };
        return this;
    }

    reset(): void {
        this.resources.length = 0;
        this.invokes.length = 0;
        this.warnings.length = 0;
        this.pending.clear();
        this.providerRegions.clear();
    }

    /** Waits until every registration the program started has been answered. */
    async settle(): Promise<void> {
        const settings = require("@pulumi/pulumi/runtime/settings");
        await settings.waitForRPCs();
    }

    /** The region of a resource's AWS provider ("urn::id" reference), else the engine's default. */
    private regionOf(providerRef: string | undefined): string {
        const urn = (providerRef ?? "").split("::").slice(0, -1).join("::");
        return this.providerRegions.get(urn) ?? this.settings.region;
    }

    mocks(): pulumi.runtime.Mocks {
        const rpc = require("@pulumi/pulumi/runtime/rpc");
        return {
            newResource: async (args: pulumi.runtime.MockResourceArgs) => {
                const key = `${args.type}::${args.name}`;
                const meta = this.pending.get(key);
                this.pending.delete(key);
                const rawInputs = meta?.rawInputs ?? (await rpc.serializeProperties("mock", args.inputs ?? {}));
                const inputs: Record<string, any> = {};
                const secretInputs: string[] = [];
                for (const [k, v] of Object.entries(rawInputs)) {
                    const u = unwrapSecrets(v);
                    inputs[k] = u.value;
                    if (u.secret) secretInputs.push(k);
                }
                if (args.type === "pulumi:providers:aws" && typeof inputs.region === "string" && meta) this.providerRegions.set(meta.urn, inputs.region);
                const { id, extra } = computed(args.type, args.name, inputs, this.settings.accountId, this.regionOf(args.provider));
                let state: Record<string, any>;
                let resultId: string | undefined;
                if (this.settings.preview && args.custom && !args.type.startsWith("pulumi:providers:")) {
                    // A create in a first preview: the provider echoes inputs; computed outputs and the id are unknown.
                    state = previewState(rawInputs, extra);
                    resultId = undefined;
                } else {
                    // Bridged providers report `id` among a resource's outputs; stack policies match on it.
                    state = { ...rawInputs, ...extra, ...(args.custom ? { id } : {}) };
                    resultId = id;
                }
                const rawState = await rpc.serializeProperties("mock", state);
                this.resources.push({
                    ...(meta ?? {
                        type: args.type, name: args.name, urn: "", custom: !!args.custom, parent: "", provider: args.provider ?? "",
                        protect: false, retainOnDelete: false, deleteBeforeReplace: false, ignoreChanges: [], dependencies: [], additionalSecretOutputs: [],
                    }),
                    inputs,
                    secretInputs,
                    secretPaths: secretPathsOf(rawInputs),
                    state: unwrapSecrets(rawState).value,
                    rawInputs,
                    rawState,
                    id: resultId ?? UNKNOWN_VALUE,
                });
                return { id: resultId, state };
            },
            call: (args: pulumi.runtime.MockCallArgs) => {
                const accountId = this.settings.accountId;
                const region = this.regionOf(args.provider);
                this.invokes.push({ token: args.token, args: args.inputs });
                switch (args.token) {
                    case "aws:index/getCallerIdentity:getCallerIdentity":
                        return { accountId, arn: `arn:aws:iam::${accountId}:user/engineer`, userId: "AIDAMOCK", id: accountId };
                    case "aws:iam/getSessionContext:getSessionContext": {
                        const m = /^arn:([^:]+):sts::(\d{12}):assumed-role\/([^/]+)\/.+$/.exec(String(args.inputs.arn));
                        const issuerArn = m ? `arn:${m[1]}:iam::${m[2]}:role/${m[3]}` : String(args.inputs.arn);
                        return { arn: args.inputs.arn, issuerArn, issuerId: "AROAMOCK", issuerName: m?.[3] ?? "", sessionName: "mock", id: args.inputs.arn };
                    }
                    case "aws:index/getPartition:getPartition":
                        return { partition: "aws", dnsSuffix: "amazonaws.com", reverseDnsPrefix: "com.amazonaws", id: "aws" };
                    case "aws:ecr/getAuthorizationToken:getAuthorizationToken":
                        return { userName: "AWS", password: "mock-ecr-password", proxyEndpoint: `https://${accountId}.dkr.ecr.${region}.amazonaws.com`, authorizationToken: "bW9jaw==", expiresAt: "2099-01-01T00:00:00Z", id: region };
                    case "aws:eks/getAddonVersion:getAddonVersion":
                        return {
                            addonName: args.inputs.addonName, kubernetesVersion: args.inputs.kubernetesVersion, id: args.inputs.addonName,
                            version: this.settings.world.addonVersions?.[`${args.inputs.addonName}@${args.inputs.kubernetesVersion}`] ?? `v1.0.0-k${args.inputs.kubernetesVersion}-eksbuild.1`,
                        };
                    case "aws:ec2/getInstanceTypeOfferings:getInstanceTypeOfferings": {
                        // A stand-in for the account's answer: zones a, b and c of the region offer every type asked for. What a
                        // real account's zones offer is known only at deploy time (infra/workbench.ts zoneOfferings).
                        const types: string[] = (args.inputs.filters ?? []).filter((f: any) => f.name === "instance-type").flatMap((f: any) => f.values ?? []);
                        const pairs = types.flatMap((t) => ["a", "b", "c"].map((z) => [t, `${region}${z}`]));
                        return {
                            filters: args.inputs.filters, locationType: args.inputs.locationType, id: region,
                            instanceTypes: pairs.map((p) => p[0]), locations: pairs.map((p) => p[1]), locationTypes: pairs.map(() => args.inputs.locationType),
                        };
                    }
                    case "aws:ssm/getParameter:getParameter": {
                        const name = String(args.inputs.name);
                        if (!name.startsWith("/aws/service/")) throw new Error(`mock: no SSM parameter ${name}`);
                        const released = this.settings.world.ssmParameters?.[name];
                        return { name, value: released ?? `ami-${hex(name, 17)}`, type: "String", arn: `arn:aws:ssm:${region}::parameter${name}`, id: name, version: released ? 2 : 1 };
                    }
                    default:
                        throw new Error(`mock engine: unexpected invoke ${args.token}; add it to tools/mock-engine.ts deliberately`);
                }
            },
        };
    }
}

let installed: MockEngine | undefined;
let logPatched = false;

/**
 * Configures the process's mock engine for one program run and returns it. Every call applies its
 * own project, stack, region and preview flag (defaults: archaeo-workbench, test, us-east-1, false),
 * so a run never inherits an earlier run's settings.
 */
export async function installMockEngine(opts: MockEngineOptions = {}): Promise<MockEngine> {
    cheapSdkStackTraces();
    installed ??= new MockEngine(opts);
    await installed.configure(opts);
    if (!logPatched) {
        const log = require("@pulumi/pulumi/log");
        const engine = installed;
        log.warn = (msg: string) => { engine.warnings.push(msg); return Promise.resolve(); };
        logPatched = true;
    }
    return installed;
}
