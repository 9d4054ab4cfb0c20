/** A researcher's own IAM role: only their principal may assume it, with their id as session name. */
import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";
import type { Researcher } from "../config";
import { researcherTrustPolicy } from "../iam";
import { researcherTags } from "../tags";

export interface ResearcherRoleArgs {
    researcher: Researcher;
    /** Physical role name (includes institution, stack and id). */
    roleName: string;
    /** The role's permissions (infra/iam.ts researcherInstancePolicy or researcherClusterPolicy), as JSON. */
    policy: pulumi.Input<string>;
}

/**
 * The identity a researcher acts as: their AWS CLI profile assumes this role (role_session_name =
 * their id), so every API call and every dataset read in the audit trail names them.
 */
export class ResearcherRole extends pulumi.ComponentResource {
    public readonly roleArn: pulumi.Output<string>;
    public readonly roleName: pulumi.Output<string>;

    constructor(name: string, args: ResearcherRoleArgs, opts?: pulumi.ComponentResourceOptions) {
        super("archaeo:foundation:ResearcherRole", name, {}, opts);
        const r = args.researcher;
        const role = new aws.iam.Role(`${name}-role`, {
            name: args.roleName,
            description: `Archaeo workbench: what researcher ${r.id} may do, and nothing more`,
            assumeRolePolicy: JSON.stringify(researcherTrustPolicy({ principalArn: r.iamPrincipalArn, id: r.id, sessionName: r.sessionName })),
            // 12 hours: an IAM user may ask for a working day; a role-chained session gets one hour whatever this says.
            maxSessionDuration: 12 * 3600,
            tags: researcherTags(r.id),
        }, { parent: this });
        new aws.iam.RolePolicy(`${name}-policy`, { role: role.name, policy: args.policy }, { parent: this });
        this.roleArn = role.arn;
        this.roleName = role.name;
        this.registerOutputs({ roleArn: this.roleArn });
    }
}

// Pure, in its own module so the researcher CLI's tests read it without loading the Pulumi SDKs.
export { awsProfileSnippet } from "./profile";
