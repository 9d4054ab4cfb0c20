/** Finds strings that look like secrets (for user data, env, argv). Pure. */
const PATTERNS: Array<[string, RegExp]> = [
    ["AWS access key id", /\b(AKIA|ASIA)[0-9A-Z]{16}\b/g],
    ["private key", /-----BEGIN [A-Z ]*PRIVATE KEY-----/g],
    ["secret assignment", /\b[A-Za-z_]*(password|passwd|secret|token|api[_-]?key)[A-Za-z_]*\s*[=:]\s*["']?(?![/$])[A-Za-z0-9+/_\-.]{16,}/gi],
    ["Jupyter token in a URL", /[?&]token=[A-Za-z0-9]{16,}/g],
];

export interface SecretMatch { kind: string; excerpt: string }

export function secretLikeMatches(text: string): SecretMatch[] {
    const out: SecretMatch[] = [];
    for (const [kind, re] of PATTERNS) {
        for (const m of text.matchAll(re)) {
            out.push({ kind, excerpt: m[0].slice(0, 24) + (m[0].length > 24 ? "…" : "") });
        }
    }
    return out;
}
