/** The AWS CLI profile a researcher acts through: the `awsProfile` stack output, and what `archaeo setup` writes. Pure. */
import { awsProfileName } from "../tags";

/**
 * The AWS CLI profile a researcher adds to ~/.aws/config to act as themselves. Pure. No
 * duration_seconds: from an Identity Center (or any role) session, assuming the researcher role is
 * role chaining, which STS caps at one hour ("if you assume a role using role chaining and provide a
 * DurationSeconds parameter value greater than one hour, the operation fails": STS AssumeRole API
 * reference, DurationSeconds). The CLI's default is one hour and it assumes the role again on expiry.
 */
export function awsProfileSnippet(a: { id: string; roleArn: string; region: string }): string {
    return [
        `[profile ${awsProfileName(a.id)}]`,
        `role_arn = ${a.roleArn}`,
        `role_session_name = ${a.id}`,
        // On its own line: the AWS CLI reads this file with configparser, which keeps an inline "# ..." in the value.
        "# source_profile: the profile you sign in with, e.g. your Identity Center profile (aws configure sso)",
        "source_profile = default",
        `region = ${a.region}`,
    ].join("\n");
}
