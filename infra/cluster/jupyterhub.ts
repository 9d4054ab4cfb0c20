/**
 * JupyterHub (Zero to JupyterHub) with per-person login: a Cognito user pool the stack creates from
 * `researchers` (MFA required, no self sign-up) or the institution's OIDC provider; the hub namespace,
 * its GPU quota, the hub tunnel (without hubHostname) and the port-forward admission policy.
 */
import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";
import * as k8s from "@pulumi/kubernetes";
import type { ClusterSettings, Researcher } from "../config";
import { CHARTS } from "./karpenter";
import { gpuEnvPolicy } from "./gpu-isolation";
import { HubAuth, HubParams, HUB_NAMESPACE, hubImage, hubNamespaceObjects, hubTunnelObjects, jupyterhubValues, portForwardPolicy, researcherNamespace, researcherServicesPolicy, standardLabels } from "./manifests";

export interface HubArgs {
    institution: string;
    stack: string;
    region: string;
    /** Physical name prefix (user pool). */
    namePrefix: string;
    /** The Cognito hosted-UI domain prefix (cognitoDomainPrefix: no reserved word, at most 63). */
    cognitoDomain: string;
    researchers: readonly Researcher[];
    auth: ClusterSettings["auth"];
    /** OIDC client secret (a Pulumi secret from config) when auth is oidc. */
    oidcClientSecret?: pulumi.Output<string>;
    /** https://<hubHostname> in cidr mode, http://localhost:8000 (kubectl port-forward) otherwise. */
    publicUrl: string;
    exposed?: HubParams["exposed"];
    /** repository@sha256:... of the hub tunnel image (only without `exposed`). */
    tunnelImage?: pulumi.Input<string>;
    /** repository@sha256:... and the pushed tag. */
    image: pulumi.Input<string>;
    imageTag: string;
    gpuLimit: number;
    gpusPerResearcher: number;
    cullMinutes: number;
    /** Hours after a server starts at which the hub stops it, active or not; 0 or absent: none. */
    maxSessionHours?: number;
    memoryGiB: number;
    vcpus: number;
    env: pulumi.Input<Record<string, string>>;
    protect: boolean;
    k8sProvider: k8s.Provider;
    dependsOn: pulumi.Input<pulumi.Resource>[];
}

/** The Cognito endpoints GenericOAuthenticator uses (Amazon Cognito user pools: OAuth 2.0 endpoints of the hosted domain). */
export function cognitoEndpoints(domain: string, region: string): Pick<HubAuth, "authorizeUrl" | "tokenUrl" | "userdataUrl"> {
    const base = `https://${domain}.auth.${region}.amazoncognito.com/oauth2`;
    return { authorizeUrl: `${base}/authorize`, tokenUrl: `${base}/token`, userdataUrl: `${base}/userInfo` };
}

export class JupyterHub extends pulumi.ComponentResource {
    public readonly namespace: k8s.core.v1.Namespace;
    public readonly userPoolId?: pulumi.Output<string>;

    constructor(name: string, args: HubArgs, opts?: pulumi.ComponentResourceOptions) {
        super("archaeo:cluster:JupyterHub", name, {}, opts);
        const child = { parent: this };
        const k8sOpts = { parent: this, provider: args.k8sProvider, dependsOn: args.dependsOn as pulumi.Resource[] };

        const ns = hubNamespaceObjects({ institution: args.institution, stack: args.stack, gpuLimit: args.gpuLimit });
        this.namespace = new k8s.core.v1.Namespace(`${name}-namespace`, ns.namespace, k8sOpts);
        const inNs = { ...k8sOpts, dependsOn: [this.namespace] };
        new k8s.core.v1.ResourceQuota(`${name}-gpu-quota`, ns.quota, inNs);
        if (args.exposed === undefined && args.tunnelImage === undefined) throw new Error("JupyterHub: without `exposed` the hub tunnel needs `tunnelImage`");
        if (args.tunnelImage !== undefined) {
            const tunnel = hubTunnelObjects({ institution: args.institution, stack: args.stack, image: args.tunnelImage });
            new k8s.networking.v1.NetworkPolicy(`${name}-tunnel-np`, tunnel.networkPolicy, inNs);
            new k8s.apps.v1.StatefulSet(`${name}-tunnel`, tunnel.statefulSet, inNs);
        }
        const vap = portForwardPolicy({ institution: args.institution, stack: args.stack, hubTunnel: args.tunnelImage !== undefined });
        const policy = new k8s.admissionregistration.v1.ValidatingAdmissionPolicy(`${name}-port-forward-policy`, vap.policy, k8sOpts);
        new k8s.admissionregistration.v1.ValidatingAdmissionPolicyBinding(`${name}-port-forward-binding`, vap.binding, { ...k8sOpts, dependsOn: [policy] });
        const services = researcherServicesPolicy({ institution: args.institution, stack: args.stack });
        const servicesPolicy = new k8s.admissionregistration.v1.ValidatingAdmissionPolicy(`${name}-services-policy`, services.policy, k8sOpts);
        new k8s.admissionregistration.v1.ValidatingAdmissionPolicyBinding(`${name}-services-binding`, services.binding, { ...k8sOpts, dependsOn: [servicesPolicy] });
        // No pod in the hub or a researcher namespace sets an NVIDIA_* variable (defence in depth; the fix is the GPU nodes' toolkit flags).
        const gpuEnv = gpuEnvPolicy({ labels: standardLabels(args.institution, args.stack, "gpu-isolation"), hubNamespace: HUB_NAMESPACE, researcherNamespacePrefix: researcherNamespace("") });
        const gpuEnvVap = new k8s.admissionregistration.v1.ValidatingAdmissionPolicy(`${name}-gpu-env-policy`, gpuEnv.policy, k8sOpts);
        new k8s.admissionregistration.v1.ValidatingAdmissionPolicyBinding(`${name}-gpu-env-binding`, gpuEnv.binding, { ...k8sOpts, dependsOn: [gpuEnvVap] });

        let auth: pulumi.Output<HubAuth>;
        let clientSecret: pulumi.Output<string>;
        if (args.auth.kind === "cognito") {
            const pool = new aws.cognito.UserPool(`${name}-users`, {
                name: `${args.namePrefix}-researchers`,
                mfaConfiguration: "ON",
                softwareTokenMfaConfiguration: { enabled: true },
                adminCreateUserConfig: { allowAdminCreateUserOnly: true },
                autoVerifiedAttributes: ["email"],
                accountRecoverySetting: { recoveryMechanisms: [{ name: "verified_email", priority: 1 }] },
                passwordPolicy: { minimumLength: 12, requireLowercase: true, requireUppercase: true, requireNumbers: true, requireSymbols: false, temporaryPasswordValidityDays: 7 },
                usernameConfiguration: { caseSensitive: false },
                // Cognito refuses DeleteUserPool while deletion protection is ACTIVE: off only in a teardown (protectData: false).
                deletionProtection: args.protect ? "ACTIVE" : "INACTIVE",
            }, { parent: this, protect: args.protect });
            const domain = new aws.cognito.UserPoolDomain(`${name}-domain`, { domain: args.cognitoDomain, userPoolId: pool.id }, child);
            const client = new aws.cognito.UserPoolClient(`${name}-client`, {
                name: "jupyterhub",
                userPoolId: pool.id,
                generateSecret: true,
                allowedOauthFlowsUserPoolClient: true,
                allowedOauthFlows: ["code"],
                allowedOauthScopes: ["openid", "email", "profile"],
                callbackUrls: [`${args.publicUrl}/hub/oauth_callback`],
                logoutUrls: [args.publicUrl],
                supportedIdentityProviders: ["COGNITO"],
                preventUserExistenceErrors: "ENABLED",
            }, child);
            for (const r of args.researchers) {
                // Cognito e-mails the researcher a temporary password; they set a new one and a TOTP device at first login.
                new aws.cognito.User(`${name}-user-${r.id}`, {
                    userPoolId: pool.id,
                    username: r.id,
                    attributes: { email: r.email ?? "", email_verified: "true" },
                    desiredDeliveryMediums: ["EMAIL"],
                }, child);
            }
            auth = pulumi.all([domain.domain, client.id]).apply(([d, clientId]) => ({
                ...cognitoEndpoints(d, args.region), clientId, usernameClaim: "username", loginService: "institution account (with MFA)",
            }));
            clientSecret = pulumi.secret(client.clientSecret);
            this.userPoolId = pool.id;
        } else {
            const a = args.auth;
            auth = pulumi.output({ authorizeUrl: a.authorizeUrl, tokenUrl: a.tokenUrl, userdataUrl: a.userinfoUrl, usernameClaim: a.usernameClaim, clientId: a.clientId, loginService: "institution account" });
            clientSecret = pulumi.secret(args.oidcClientSecret ?? pulumi.output(""));
        }

        const values = pulumi.all([args.image, auth, args.env, clientSecret]).apply(([image, a, env, secret]) => {
            const v = jupyterhubValues({
                image: hubImage(image, args.imageTag), researcherIds: args.researchers.filter((r) => !r.parked).map((r) => r.id), auth: a, publicUrl: args.publicUrl, exposed: args.exposed,
                cullMinutes: args.cullMinutes, maxSessionHours: args.maxSessionHours ?? 0, gpusPerResearcher: args.gpusPerResearcher, memoryGiB: args.memoryGiB, vcpus: args.vcpus, env,
            });
            return { ...v, hub: { ...v.hub, config: { ...v.hub.config, GenericOAuthenticator: { ...v.hub.config.GenericOAuthenticator, client_secret: secret } } } };
        });
        new k8s.helm.v3.Release(`${name}-release`, {
            name: "jupyterhub",
            chart: CHARTS.jupyterhub.chart,
            version: CHARTS.jupyterhub.version,
            repositoryOpts: { repo: CHARTS.jupyterhub.repo },
            namespace: HUB_NAMESPACE,
            // The OAuth client secret is inside: keep the whole values block secret in state.
            values: pulumi.secret(values),
            timeout: 900,
        }, { ...k8sOpts, dependsOn: [this.namespace] });

        this.registerOutputs({});
    }
}
