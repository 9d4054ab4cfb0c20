/** Config test helpers: the example stack with overrides, and the problems a config yields. */
import { strict as assert } from "assert";
import { ConfigError, parseConfig, StackConfig } from "../../infra/config";
import { readStack } from "../../tools/stacks";

export const ED25519 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDXGaKRpRrSjE+CE3c7Xrij0WQHqtf6/5mjNpauIw/Gy a@b";
export const ED25519_B = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIP0jueYI/Il8QADw9oe2ZYKhw6YinCpUzeykdgdbmWQK b@c";
export const ACCOUNT = "123456789012";

/** A researcher entry (instance mode), with overrides. */
export function researcher(id: string, o: Record<string, unknown> = {}): Record<string, unknown> {
    return { id, iamPrincipalArn: `arn:aws:iam::${ACCOUNT}:user/${id}`, sshPublicKeys: [ED25519], ...o };
}

/** The example stack's raw config with overrides (short keys; undefined removes a key). */
export function raw(overrides: Record<string, unknown> = {}, stack = "example"): Record<string, unknown> {
    const out: Record<string, unknown> = { ...readStack(stack).raw };
    for (const [k, v] of Object.entries(overrides)) {
        const key = `archaeo-workbench:${k}`;
        if (v === undefined) delete out[key];
        else out[key] = v;
    }
    return out;
}

export function parse(overrides: Record<string, unknown> = {}, region: string | undefined = "us-east-1", stack = "example"): StackConfig {
    return parseConfig(raw(overrides, stack), { stack, region });
}

/** The problems (key -> reason) of a config, or {} when it parses. */
export function problems(overrides: Record<string, unknown>, region: string | undefined = "us-east-1", stack = "example"): Record<string, string> {
    try {
        parse(overrides, region, stack);
    } catch (e) {
        assert.ok(e instanceof ConfigError, `expected ConfigError, got ${e}`);
        return Object.fromEntries(e.errors.map((p) => [p.propertyPath, p.reason]));
    }
    return {};
}

/** Asserts exactly one problem, at `key`, matching `reason`. */
export function refuses(overrides: Record<string, unknown>, key: string, reason: RegExp, stack = "example"): void {
    const found = problems(overrides, "us-east-1", stack);
    const full = key.includes(":") ? key : `archaeo-workbench:${key}`;
    assert.ok(full in found, `expected a problem at ${full}, got ${JSON.stringify(found)}`);
    assert.match(found[full], reason);
    assert.equal(Object.keys(found).length, 1, `only ${full} should be wrong: ${JSON.stringify(found)}`);
}

/** Cluster-mode overrides on top of the example stack. */
export function clusterOverrides(o: Record<string, unknown> = {}): Record<string, unknown> {
    return {
        mode: "cluster", rootVolumeSizeGiB: undefined, workspaceSizeGiB: undefined, amiSsmParameter: undefined,
        clusterAdminArns: [`arn:aws:iam::${ACCOUNT}:role/admins`],
        researchers: [{ id: "alice", iamPrincipalArn: `arn:aws:iam::${ACCOUNT}:role/alice`, email: "alice@example.org", sshPublicKeys: [ED25519] }],
        ...o,
    };
}
