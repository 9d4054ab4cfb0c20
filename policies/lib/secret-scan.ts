/** Finds strings that look like secrets (for user data, env, argv). Pure. */
const PATTERNS: Array<[string, RegExp]> = [
    ["AWS access key id", /\b(AKIA|ASIA)[0-9A-Z]{16}\b/g],
    ["private key", /-----BEGIN [A-Z ]*PRIVATE KEY-----/g],
    ["secret assignment", /\b[A-Za-z_]*(password|passwd|secret|token|api[_-]?key)[A-Za-z_]*\s*[=:]\s*["']?(?![/$])[A-Za-z0-9+/_\-.]{16,}/gi],
    ["Jupyter token in a URL", /[?&]token=[A-Za-z0-9]{16,}/g],
    // By shape, whatever the name it is under: a JSON Web Token (a Kubernetes service-account or OIDC bearer token:
    // base64url header and payload, both JSON objects, so both start "eyJ"), a GitHub token (ghp_/gho_/ghu_/ghs_/ghr_ and
    // 36 characters), a Slack token.
    ["JSON Web Token", /\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/g],
    ["GitHub token", /\b(gh[pousr]_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9_]{22,})\b/g],
    ["Slack token", /\bxox[abeprs]-[A-Za-z0-9-]{10,}/g],
    ["Slack webhook URL", /https:\/\/hooks\.slack\.com\/services\/[A-Za-z0-9/]{20,}/g],
];

export interface SecretMatch { kind: string; excerpt: string }

export function secretLikeMatches(text: string): SecretMatch[] {
    const out: SecretMatch[] = [];
    for (const [kind, re] of PATTERNS) {
        for (const m of text.matchAll(re)) {
            out.push({ kind, excerpt: redact(m[0]) });
        }
    }
    return out;
}

/**
 * Where a match is, without the secret: a finding is printed in the preview's output and the PR's checks, so it shows a
 * variable's name up to its `=` or `:` (or a token's first 4 characters, its public prefix), then only the length.
 */
function redact(match: string): string {
    const sep = match.slice(0, 48).search(/[=:]/);
    const shown = sep >= 0 ? match.slice(0, sep + 1) : match.slice(0, 4);
    return `${shown}… (${match.length} characters)`;
}
