/**
 * Linux capabilities a container adds, named as the runtime reads them. containerd's CRI plugin
 * upper-cases each name and prefixes CAP_ (pkg/cri/opts/spec_linux.go WithCapabilities: `"CAP_" +
 * strings.ToUpper(c)`; "ALL" matched case-insensitively), so "sys_admin", "SYS_ADMIN" and
 * "CAP_SYS_ADMIN" are one capability. Pod Security Standards, Restricted profile ("Capabilities"):
 * containers "are only permitted to add back the NET_BIND_SERVICE capability". Pure.
 */
import { asArray } from "./util";

export const RESTRICTED_ADDABLE: readonly string[] = ["NET_BIND_SERVICE"];

/** A capability name as the runtime reads it: upper case, without CAP_ ("ALL" stays "ALL"). */
export function canonicalCapability(name: unknown): string {
    return String(name).trim().toUpperCase().replace(/^CAP_/, "");
}

/** The added capabilities beyond what the Restricted profile allows, as written. */
export function addedBeyondRestricted(added: unknown): string[] {
    return asArray(added as string[]).filter((c) => !RESTRICTED_ADDABLE.includes(canonicalCapability(c))).map(String);
}
