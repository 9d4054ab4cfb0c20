/**
 * The CrossGuard pack. This file only constructs the PolicyPack (which starts a gRPC server for the
 * Pulumi engine): run it with `pulumi preview --policy-pack policies`. Rules live in ./rules.
 */
import { PolicyPack } from "@pulumi/policy";
import { allPolicies, POLICY_PACK_NAME } from "./rules";

new PolicyPack(POLICY_PACK_NAME, { enforcementLevel: "mandatory", policies: allPolicies });
