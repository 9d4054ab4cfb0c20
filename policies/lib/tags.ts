/** Tags a resource ends up with: its provider's defaultTags, tagsAll, then its own tags. Unknown-aware. */
import type { PolicyResource } from "@pulumi/policy";
import { known, json, UNKNOWN } from "./util";

/**
 * The effective tags, or UNKNOWN when the resource's own tags or its provider's defaultTags are not
 * known yet (tagsAll, an output that is unknown at a first preview, only adds what those two give).
 */
export function effectiveTags(r: Pick<PolicyResource, "props" | "provider">): Record<string, unknown> | typeof UNKNOWN {
    const own = known(() => r.props.tags) as Record<string, unknown> | undefined | typeof UNKNOWN;
    if (own === UNKNOWN) return UNKNOWN;
    const providerTags = r.provider ? known(() => r.provider!.props.defaultTags) : undefined;
    if (providerTags === UNKNOWN) return UNKNOWN;
    const all = known(() => r.props.tagsAll) as Record<string, unknown> | undefined | typeof UNKNOWN;
    const defaults = json(providerTags)?.tags;
    return {
        ...(defaults && typeof defaults === "object" ? defaults : {}),
        ...(all && all !== UNKNOWN ? all : {}),
        ...(own ?? {}),
    };
}
