/** Stack config: the key table, the typed result and the pure parser (see each module). */
export * from "./types";
export { CONFIG_KEYS, MOVED_KEYS, PROJECT, RESEARCHER_FIELDS, projectConfigBlock } from "./schema";
export type { ConfigKey, KeySpec } from "./schema";
export { accountProblems, IAM_PRINCIPAL, KMS_ARN, KUBERNETES_VERSIONS, MAX_RESEARCHERS, parseConfig, researchersSection } from "./parse";
export type { ConfigContext } from "./parse";
export { parseCidr, publicAddressCoverage } from "../../policies/lib/cidr";
export { checkSshPublicKey, SSH_KEY_MAX_LENGTH } from "./ssh";
