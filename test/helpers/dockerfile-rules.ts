/**
 * Project rules for images/*\/Dockerfile on top of dockerfile-utils' own validation (hadolint is not
 * reachable here). Each returns messages naming the line; an empty list means compliant.
 */
import { DockerfileParser } from "dockerfile-ast";

export interface RuleContext {
    /** BASE_IMAGE default the Dockerfile must declare (image.json baseImage:baseTag). */
    expectedBase: string;
}

export function dockerfileRuleViolations(content: string, ctx: RuleContext): string[] {
    const df = DockerfileParser.parse(content);
    const out: string[] = [];
    const ins = df.getInstructions();
    const line = (i: { getRange(): { start: { line: number } } }) => `line ${i.getRange().start.line + 1}`;
    const args = new Map<string, string>();
    for (const a of df.getInitialARGs()) {
        const [k, ...v] = a.getArgumentsContent()!.split("=");
        args.set(k.trim(), v.join("=").trim());
    }

    // Base pinned: tag from image.json and a digest ARG used in the first FROM.
    const first = df.getFROMs()[0];
    if (args.get("BASE_IMAGE") !== ctx.expectedBase) out.push(`ARG BASE_IMAGE must default to ${ctx.expectedBase}, found ${args.get("BASE_IMAGE")}`);
    if (!args.has("BASE_DIGEST")) out.push("ARG BASE_DIGEST must be declared so the base can be pinned by digest");
    if (!first || !/\$\{BASE_IMAGE\}\$\{BASE_DIGEST:\+@\}\$\{BASE_DIGEST\}/.test(first.getArgumentsContent() ?? "")) {
        out.push("the first FROM must be ${BASE_IMAGE}${BASE_DIGEST:+@}${BASE_DIGEST}");
    }

    // No floating tags: every FROM names an earlier stage, the pinned base ARGs, or a tag/digest.
    const stages = new Set<string>();
    for (const i of ins) {
        if (/:latest\b/.test(i.getTextContent())) out.push(`${line(i)}: no 'latest' tags`);
        if (i.getKeyword() !== "FROM") continue;
        const [img, as, stage] = (i.getArgumentsContent() ?? "").split(/\s+/);
        if (!stages.has(img) && !img.startsWith("${") && !/[:@]/.test(img)) out.push(`${line(i)}: FROM ${img} is untagged`);
        if (as?.toUpperCase() === "AS" && stage) stages.add(stage);
    }
    // COPY --from=<image> (not a stage) pulls that image at build time: pinned by digest, as a base
    // digest pins the FROM (a tag alone can be moved to other content).
    for (const i of ins) if (i.getKeyword() === "COPY") {
        const from = /--from=(\S+)/.exec(i.getTextContent())?.[1];
        if (from && !stages.has(from) && !/^\d+$/.test(from) && !/@sha256:[0-9a-f]{64}$/.test(from)) out.push(`${line(i)}: COPY --from=${from} must pin the image by @sha256 digest`);
    }

    // No secrets baked into ENV / ARG (a *_FILE or *_DIR path naming where a secret is mounted is fine).
    for (const i of ins) {
        if (i.getKeyword() !== "ENV" && i.getKeyword() !== "ARG") continue;
        for (const [, name, value] of (i.getArgumentsContent() ?? "").matchAll(/([A-Za-z_][A-Za-z0-9_]*)=(\S*)/g)) {
            if (/(PASSWORD|SECRET|TOKEN|API_?KEY|ACCESS_KEY)/i.test(name) && !/_(FILE|DIR|PATH)$/i.test(name) && value) {
                out.push(`${line(i)}: ${i.getKeyword()} ${name} must not carry a secret`);
            }
        }
    }

    // No ADD of URLs (use a pinned, checksummed download in a builder stage instead).
    for (const i of ins) if (i.getKeyword() === "ADD") {
        out.push(`${line(i)}: use COPY, not ADD${/https?:\/\//.test(i.getTextContent()) ? " (ADD of a URL is refused)" : ""}`);
    }

    // apt lists removed in the same layer as apt-get update.
    for (const i of ins) if (i.getKeyword() === "RUN" && /apt-get update/.test(i.getTextContent())) {
        if (!/rm -rf \/var\/lib\/apt\/lists/.test(i.getTextContent())) out.push(`${line(i)}: apt-get update must remove /var/lib/apt/lists in the same RUN`);
        if (!/--no-install-recommends/.test(i.getTextContent())) out.push(`${line(i)}: apt-get install needs --no-install-recommends`);
    }

    // Final stage: non-root USER after the last RUN, no compilers or pip installs.
    const froms = df.getFROMs();
    const finalFrom = froms[froms.length - 1];
    const finalStart = finalFrom ? finalFrom.getRange().start.line : 0;
    const finalIns = ins.filter((i) => i.getRange().start.line >= finalStart);
    const users = finalIns.filter((i) => i.getKeyword() === "USER");
    const lastRun = [...finalIns].reverse().find((i) => i.getKeyword() === "RUN");
    const lastUser = users[users.length - 1];
    if (!lastUser) out.push("the final stage must set a non-root USER");
    else {
        if (/^(0|root)(:|$)/.test(lastUser.getArgumentsContent() ?? "")) out.push(`${line(lastUser)}: the last USER must not be root`);
        if (lastRun && lastRun.getRange().start.line > lastUser.getRange().start.line) out.push(`${line(lastRun)}: RUN after the last USER runs as a non-root user or hides a USER root`);
    }
    for (const i of finalIns) if (i.getKeyword() === "RUN" && /(pip install|build-essential|\bgcc\b|\bg\+\+|\bclang\b)/.test(i.getTextContent())) {
        out.push(`${line(i)}: no pip installs or compilers in the final stage; build in the builder stage`);
    }
    if (!finalIns.some((i) => i.getKeyword() === "HEALTHCHECK")) out.push("the final stage needs a HEALTHCHECK");

    // Build arguments used by LABEL / ENV must be declared in their stage: an ARG before the first
    // FROM is not visible after it (Dockerfile reference, "Understand how ARG and FROM interact"),
    // so `LABEL org.opencontainers.image.base.name="${BASE_IMAGE}"` would be empty without it.
    const envSoFar = new Set<string>(["PATH", "HOME", "HOSTNAME"]);
    for (let s = 0; s < froms.length; s++) {
        const start = froms[s].getRange().start.line;
        const end = s + 1 < froms.length ? froms[s + 1].getRange().start.line : Number.MAX_SAFE_INTEGER;
        const declared = new Set<string>();
        for (const i of ins.filter((x) => x.getRange().start.line > start && x.getRange().start.line < end)) {
            const kw = i.getKeyword();
            const text = i.getArgumentsContent() ?? "";
            if (kw === "ARG") declared.add(text.split("=")[0].trim());
            if (kw !== "LABEL" && kw !== "ENV") continue;
            for (const [, name] of text.matchAll(/\$\{?([A-Za-z_][A-Za-z0-9_]*)/g)) {
                if (!declared.has(name) && !envSoFar.has(name)) {
                    out.push(`${line(i)}: ${kw} uses \${${name}} but this stage declares no ARG ${name} (an ARG before the first FROM is not visible after it)`);
                }
            }
            if (kw === "ENV") for (const [, name] of text.matchAll(/(?:^|\s)([A-Za-z_][A-Za-z0-9_]*)=/g)) envSoFar.add(name);
        }
    }
    const entry = finalIns.find((i) => i.getKeyword() === "ENTRYPOINT");
    if (!entry || !/tini/.test(entry.getTextContent())) out.push("ENTRYPOINT must run under tini");
    if (froms.length < 2) out.push("the Dockerfile must be multi-stage");
    return out;
}
