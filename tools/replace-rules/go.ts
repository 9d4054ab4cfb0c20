/**
 * Just enough of Go to read a Terraform provider's resource schemas: a tokenizer and a parser for the
 * expressions schemas are written in (composite literals such as `map[string]*schema.Schema{...}` and
 * `schema.StringAttribute{...}`, calls, selectors, func literals skipped whole), plus helpers to find a
 * function's `return` value or a variable's initialiser. Used only by the replace-rule generator.
 */

export type Tok = { kind: "ident" | "string" | "number" | "char" | "punct"; text: string; raw: string; nl: boolean };

/** A parsed expression: only what schema literals need is kept apart; the rest is `other` with its text. */
export type GoNode =
    | { kind: "composite"; type: string; elems: Array<{ key?: GoNode; value: GoNode }> }
    | { kind: "call"; fn: string; args: GoNode[] }
    | { kind: "ident"; name: string }
    | { kind: "string"; value: string }
    | { kind: "lit"; text: string }
    | { kind: "func"; text: string }
    | { kind: "other"; text: string };

const PUNCT3 = ["<<=", ">>=", "...", "&^=", "&&=", "||="];
const PUNCT2 = [":=", "==", "!=", "<=", ">=", "&&", "||", "<-", "++", "--", "+=", "-=", "*=", "/=", "%=", "&=", "|=", "^=", "<<", ">>", "&^"];

export function tokenize(src: string): Tok[] {
    const out: Tok[] = [];
    let i = 0;
    let nl = false;
    while (i < src.length) {
        const c = src[i];
        if (c === "\n") { nl = true; i++; continue; }
        if (c === " " || c === "\t" || c === "\r") { i++; continue; }
        if (src.startsWith("//", i)) { while (i < src.length && src[i] !== "\n") i++; continue; }
        if (src.startsWith("/*", i)) { const e = src.indexOf("*/", i + 2); if (e < 0) break; if (src.slice(i, e).includes("\n")) nl = true; i = e + 2; continue; }
        const push = (kind: Tok["kind"], text: string, end: number) => { out.push({ kind, text, raw: src.slice(i, end), nl }); nl = false; };
        if (c === "\"") {
            let j = i + 1;
            while (j < src.length && src[j] !== "\"") j += src[j] === "\\" ? 2 : 1;
            push("string", unquote(src.slice(i + 1, j)), j + 1);
            i = j + 1;
            continue;
        }
        if (c === "`") { const j = src.indexOf("`", i + 1); push("string", src.slice(i + 1, j), j + 1); i = j + 1; continue; }
        if (c === "'") { let j = i + 1; while (src[j] !== "'") j += src[j] === "\\" ? 2 : 1; push("char", src.slice(i, j + 1), j + 1); i = j + 1; continue; }
        if (/[A-Za-z_]/.test(c)) { let j = i; while (j < src.length && /[A-Za-z0-9_]/.test(src[j])) j++; push("ident", src.slice(i, j), j); i = j; continue; }
        if (/[0-9]/.test(c)) { let j = i; while (j < src.length && /[0-9A-Za-z_.]/.test(src[j])) j++; push("number", src.slice(i, j), j); i = j; continue; }
        const p3 = PUNCT3.find((p) => src.startsWith(p, i));
        const p2 = p3 ? undefined : PUNCT2.find((p) => src.startsWith(p, i));
        const p = p3 ?? p2 ?? c;
        push("punct", p, i + p.length);
        i += p.length;
    }
    return out;
}

/** The value of an interpreted Go string literal's body. */
function unquote(body: string): string {
    const esc: Record<string, string> = { n: "\n", t: "\t", r: "\r", "\\": "\\", "\"": "\"", "'": "'", a: "\x07", b: "\b", f: "\f", v: "\v" };
    return body.replace(/\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|[0-7]{3}|.)/g, (_, e: string) =>
        /^[xuU]/.test(e) ? String.fromCodePoint(parseInt(e.slice(1), 16)) : /^[0-7]{3}$/.test(e) ? String.fromCharCode(parseInt(e, 8)) : esc[e] ?? e);
}

const CLOSE: Record<string, string> = { "(": ")", "[": "]", "{": "}" };

/** Index just past the bracket group opening at `i`. */
export function skipGroup(t: Tok[], i: number): number {
    const open = t[i].text;
    const close = CLOSE[open];
    let depth = 0;
    for (let j = i; j < t.length; j++) {
        if (t[j].kind !== "punct") continue;
        if (t[j].text === open) depth++;
        else if (t[j].text === close && --depth === 0) return j + 1;
    }
    throw new Error(`unbalanced ${open}`);
}

const text = (t: Tok[], a: number, b: number) => t.slice(a, b).map((x) => x.raw).join(" ");
const isBinop = (x: Tok | undefined) => !!x && x.kind === "punct" && ["+", "-", "*", "/", "%", "|", "&", "^", "<<", ">>", "&^", "==", "!=", "<", "<=", ">", ">=", "&&", "||"].includes(x.text);

/** Parses a type expression (map[K]V, []T, *T, pkg.T, func(...) ..., struct{...}) starting at i; returns its end. */
function skipType(t: Tok[], i: number): number {
    const x = t[i];
    if (x.text === "*" || x.text === "&") return skipType(t, i + 1);
    if (x.text === "map") return skipType(t, skipGroup(t, i + 1));
    if (x.text === "[") return skipType(t, skipGroup(t, i));
    if (x.text === "struct" || x.text === "interface") return skipGroup(t, i + 1);
    if (x.text === "func") {
        let j = skipGroup(t, i + 1);
        if (t[j]?.text === "(") j = skipGroup(t, j);
        else if (t[j] && !t[j].nl && (t[j].kind === "ident" || t[j].text === "*" || t[j].text === "[")) j = skipType(t, j);
        return j;
    }
    let j = i + 1;
    while (t[j]?.text === "." && t[j + 1]?.kind === "ident") j += 2;
    if (t[j]?.text === "[" && !t[j].nl) j = skipGroup(t, j); // generic instantiation
    return j;
}

/** Parses one expression at `i` (up to a top-level `,`, `:`, closing bracket or statement end). */
export function parseExpr(t: Tok[], i: number): { node: GoNode; next: number } {
    const start = i;
    let { node, next } = parsePrimary(t, i);
    let binary = false;
    while (isBinop(t[next]) && !(t[next].nl && false)) {
        binary = true;
        next = parsePrimary(t, next + 1).next;
    }
    if (binary) node = { kind: "other", text: text(t, start, next) };
    return { node, next };
}

function parsePrimary(t: Tok[], i: number): { node: GoNode; next: number } {
    const start = i;
    let x = t[i];
    if (!x) throw new Error("unexpected end of input");
    if (x.kind === "punct" && ["&", "*", "-", "!", "^", "<-", "+"].includes(x.text)) {
        const inner = parsePrimary(t, i + 1);
        // &T{...} is the composite itself, *f() the value f points to; other unary operators make an opaque value.
        return x.text === "&" || x.text === "*" ? inner : { node: { kind: "other", text: text(t, start, inner.next) }, next: inner.next };
    }
    if (x.kind === "string") return postfix(t, { kind: "string", value: x.text }, i + 1, start);
    if (x.kind === "number" || x.kind === "char") return postfix(t, { kind: "lit", text: x.text }, i + 1, start);
    if (x.text === "(") { const end = skipGroup(t, i); return postfix(t, { kind: "other", text: text(t, i, end) }, end, start); }
    if (x.text === "{") {
        // An elided composite type inside a composite literal.
        return parseComposite(t, "", i);
    }
    if (x.text === "func") {
        let j = skipType(t, i);
        if (t[j]?.text === "{") { j = skipGroup(t, j); return postfix(t, { kind: "func", text: text(t, i, j) }, j, start); }
        return { node: { kind: "other", text: text(t, i, j) }, next: j };
    }
    if (x.text === "map" || x.text === "[" || x.text === "struct") {
        const j = skipType(t, i);
        if (t[j]?.text === "{") return parseComposite(t, text(t, i, j), j);
        return { node: { kind: "other", text: text(t, i, j) }, next: j };
    }
    if (x.kind === "ident") {
        let j = i + 1;
        while (t[j]?.text === "." && t[j + 1]?.kind === "ident") j += 2;
        const name = t.slice(i, j).map((y) => y.text).join("");
        // A generic type or function instantiation: Name[T]{...} / Name[T](...)
        if (t[j]?.text === "[" && !t[j].nl) {
            const k = skipGroup(t, j);
            if (t[k]?.text === "{" || t[k]?.text === "(") return postfix(t, { kind: "ident", name }, k, start, text(t, i, k));
        }
        return postfix(t, { kind: "ident", name }, j, start);
    }
    x = t[i];
    throw new Error(`cannot parse expression at '${x.text}' (${text(t, i, i + 8)})`);
}

function postfix(t: Tok[], node: GoNode, i: number, start: number, typeText?: string): { node: GoNode; next: number } {
    for (;;) {
        const x = t[i];
        if (!x || x.kind !== "punct") return { node, next: i };
        if (x.text === "(") {
            const args: GoNode[] = [];
            let j = i + 1;
            while (t[j].text !== ")") {
                const a = parseExpr(t, j);
                args.push(a.node);
                j = a.next;
                if (t[j].text === "...") j++;
                if (t[j].text === ",") j++;
            }
            node = { kind: "call", fn: node.kind === "ident" ? node.name : text(t, start, i), args };
            i = j + 1;
            continue;
        }
        if (x.text === "{" && node.kind === "ident" && !x.nl) return parseComposite(t, typeText ?? node.name, i);
        if (x.text === "." && t[i + 1]?.kind === "ident") { node = { kind: "other", text: text(t, start, i + 2) }; i += 2; continue; }
        if (x.text === "." && t[i + 1]?.text === "(") { const e = skipGroup(t, i + 1); node = { kind: "other", text: text(t, start, e) }; i = e; continue; }
        if (x.text === "[" && !x.nl) { const e = skipGroup(t, i); node = { kind: "other", text: text(t, start, e) }; i = e; continue; }
        return { node, next: i };
    }
}

function parseComposite(t: Tok[], type: string, i: number): { node: GoNode; next: number } {
    const elems: Array<{ key?: GoNode; value: GoNode }> = [];
    let j = i + 1;
    while (t[j].text !== "}") {
        const a = parseExpr(t, j);
        j = a.next;
        if (t[j].text === ":") {
            const v = parseExpr(t, j + 1);
            elems.push({ key: a.node, value: v.node });
            j = v.next;
        } else {
            elems.push({ value: a.node });
        }
        if (t[j].text === ",") j++;
        else if (t[j].text !== "}") throw new Error(`expected , or } in composite literal, got '${t[j].text}' (${text(t, j - 4, j + 4)})`);
    }
    return postfix(t, { kind: "composite", type, elems }, j + 1, i);
}

/** The function body's token range of `func [recv] name(...) ... {` in a file's tokens. */
export function funcBody(t: Tok[], name: string): [number, number] | undefined {
    for (let i = 0; i < t.length; i++) {
        if (t[i].text !== "func") continue;
        let j = i + 1;
        if (t[j]?.text === "(") j = skipGroup(t, j); // receiver
        if (t[j]?.text !== name) continue;
        j++;
        if (t[j]?.text === "[") j = skipGroup(t, j); // type parameters
        j = skipGroup(t, j); // parameters
        while (t[j] && t[j].text !== "{") j = t[j].text === "(" ? skipGroup(t, j) : j + 1;
        return [j, skipGroup(t, j)];
    }
    return undefined;
}

/** The expression of the first `return` at the top level of a body (nested func literals skipped). */
export function returnExpr(t: Tok[], body: [number, number]): GoNode | undefined {
    for (let i = body[0] + 1; i < body[1] - 1; i++) {
        if (t[i].text === "func") { // a func literal: skip its body
            let j = i + 1;
            while (j < body[1] && t[j].text !== "{") j = t[j].text === "(" ? skipGroup(t, j) : j + 1;
            i = skipGroup(t, j) - 1;
            continue;
        }
        if (t[i].text === "return" && t[i].kind === "ident") return parseExpr(t, i + 1).node;
    }
    return undefined;
}

/** The initialiser of `name := expr`, `name = expr` or `var name = expr` in a token range. */
export function assignedExpr(t: Tok[], name: string, from = 0, to = t.length): GoNode | undefined {
    for (let i = from; i < to - 2; i++) {
        if (t[i].text === name && t[i].kind === "ident" && (t[i + 1].text === ":=" || t[i + 1].text === "=")) return parseExpr(t, i + 2).node;
        if (t[i].text === name && t[i].kind === "ident" && t[i + 1].kind === "ident" && t[i + 2]?.text === "=") return parseExpr(t, i + 3).node;
    }
    return undefined;
}

/** A composite literal's keyed element by field name (`Type:`, `ForceNew:`...). */
export function field(n: GoNode | undefined, name: string): GoNode | undefined {
    if (!n || n.kind !== "composite") return undefined;
    return n.elems.find((e) => e.key?.kind === "ident" && e.key.name === name)?.value;
}

export const isTrue = (n: GoNode | undefined) => n?.kind === "ident" && n.name === "true";
