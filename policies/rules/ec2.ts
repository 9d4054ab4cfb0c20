import * as aws from "@pulumi/aws";
import { ResourceValidationPolicy, validateResourceOfType } from "@pulumi/policy";
import { secretLikeMatches } from "../lib/secret-scan";
import { get, UNKNOWN } from "../lib/util";

/** Instance metadata and boot configuration. */
export const ec2Policies: ResourceValidationPolicy[] = [
    {
        name: "ec2-imdsv2-required",
        description: "Checks whether EC2 instances and launch templates require IMDSv2 session tokens.",
        enforcementLevel: "mandatory",
        validateResource: [
            validateResourceOfType(aws.ec2.Instance, (i, args, report) => {
                if (i.metadataOptions?.httpTokens !== "required") report(`EC2 instance '${args.name}' must set metadataOptions.httpTokens: "required" (IMDSv2).`);
            }),
            validateResourceOfType(aws.ec2.LaunchTemplate, (lt, args, report) => {
                if (lt.metadataOptions?.httpTokens !== "required") report(`Launch template '${args.name}' must set metadataOptions.httpTokens: "required" (IMDSv2).`);
            }),
        ],
    },
    {
        name: "ec2-user-data-no-secrets",
        description: "Checks whether EC2 user data is free of secret-looking strings (tokens, passwords, keys).",
        enforcementLevel: "mandatory",
        validateResource: [
            validateResourceOfType(aws.ec2.Instance, (i, args, report) => {
                const ud = get(() => i.userData);
                if (ud === UNKNOWN || !ud) return;
                for (const m of secretLikeMatches(ud)) report(`EC2 instance '${args.name}' user data contains a ${m.kind} ('${m.excerpt}'); read secrets at boot from SSM SecureString instead.`);
            }),
            validateResourceOfType(aws.ec2.LaunchTemplate, (lt, args, report) => {
                const ud = get(() => lt.userData);
                if (ud === UNKNOWN || !ud) return;
                const text = Buffer.from(ud, "base64").toString("utf8");
                for (const m of secretLikeMatches(text)) report(`Launch template '${args.name}' user data contains a ${m.kind} ('${m.excerpt}'); read secrets at boot from SSM SecureString instead.`);
            }),
        ],
    },
    {
        name: "ec2-containers-unprivileged",
        description: "Checks whether containers started from EC2 user data run as a non-root user and never privileged.",
        enforcementLevel: "mandatory",
        validateResource: validateResourceOfType(aws.ec2.Instance, (i, args, report) => {
            const ud = get(() => i.userData);
            if (ud === UNKNOWN || !ud) return;
            // Join systemd/shell continuation lines so each `docker run` reads as one command.
            const commands = ud.replace(/\\\n\s*/g, " ").split("\n").filter((l) => /docker run\b/.test(l));
            for (const cmd of commands) {
                const user = /--user[ =](\S+)/.exec(cmd)?.[1];
                const where = cmd.trim().slice(0, 60);
                if (!user || /^(0|root)(:|$)/.test(user.replace(/^["']|["']$/g, ""))) report(`EC2 instance '${args.name}' starts a container without a non-root --user ('${where}…'); add --user 1000:1000.`);
                if (/--privileged\b/.test(cmd)) report(`EC2 instance '${args.name}' starts a privileged container ('${where}…'); remove --privileged.`);
            }
        }),
    },
];
