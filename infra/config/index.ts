/** Stack config: the key table, the typed result and the pure parser (see each module). */
export * from "./types";
export { CONFIG_KEYS, PROJECT, projectConfigBlock } from "./schema";
export { accountProblems, KMS_ARN, KUBERNETES_VERSIONS, lifecycleWarnings, MAX_RESEARCHERS, namedAccounts, parseConfig, SNAPSHOT_ID, stackAccount } from "./parse";
export { offeringsByType, zoneOfferingProblems, zoneSubnet, zoneSubnetIndex } from "./zones";
export type { ZoneOfferings } from "./zones";
export { parseCidr, publicAddressCoverage } from "../../policies/lib/cidr";
export { checkSshPublicKey } from "./ssh";
