/**
 * The same bytes from every machine (issue 15, part 3): every value that can trigger a replacement or a
 * rebuild is a pure function of the repository and the stack config. The workstation's user data is
 * sent gzip'd with userDataReplaceOnChange (other bytes replace the workstation); the image tag and the
 * digest pulumi-docker compares decide a rebuild and a push into an IMMUTABLE repository.
 *
 * The mutations: node:zlib compressing as a Mac's would (OS byte 19) or as another zlib build would
 * (another deflate stream), a checkout under umask 077 instead of 022, another time zone and locale.
 */
import { strict as assert } from "assert";
import { spawnSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as zlib from "zlib";
import { crc32, deterministicGzip, GZIP_HEADER } from "../infra/instance/gzip";
import { decodeUserDataBase64, gzipUserData, renderUserData, renderUserDataBase64, UserDataParams } from "../infra/instance/userdata";
import { contextDigest, gitFileMode, imageTag, normaliseContextModes, providerContextDigest } from "../infra/foundation/registry";
import { IMAGE_CONTEXT, PROJECT_ROOT } from "../infra/foundation";
import { checkoutFromIndex } from "./helpers/checkout";
import { installForeignZlib, MACOS_OS_CODE } from "./helpers/foreign-zlib";
import { engine } from "./helpers/program";
import { PYTHON, requireTool, tmpDir } from "./helpers/tools";
import { SAMPLE_USER_DATA_PARAMS } from "./helpers/userdata-params";

const params: UserDataParams = SAMPLE_USER_DATA_PARAMS;

/**
 * Golden values, computed once with this code (Node 20.20.2 on Linux x86-64) and committed: another
 * machine or Node release that renders other bytes fails here. The first pins the compressor alone (a
 * fixed document); the second the whole user data for `params`, so it also moves when the template or
 * a host script changes on purpose: then render it again and update it in the same commit.
 */
const GOLDEN_SAMPLE_GZIP_SHA256 = "402c317c017d478fb9add9512d9c658b6af6c93a466f97696a5679cc217266fa";
// Issue 20 changed it on purpose: archaeo-prepare reports its stages, Jupyter no longer waits for the S3 mounts (each workstation is replaced once).
const GOLDEN_USER_DATA_SHA256 = "932820c143028b1f182f725d92eb702c4476049d0b6abb66cdb97c86fa599db5";

/** A fixed 24 KiB document with long and short repeats and literal runs (a linear congruential generator). */
function sampleDocument(): Buffer {
    const words = ["write_files", "path", "/usr/local/sbin/archaeo-", "permissions", "0755", "content", "systemctl", "docker run --rm", "set -euo pipefail", "\n  ", "ExecStart=", "\n"];
    let x = 12345;
    let out = "#cloud-config\n";
    while (out.length < 24 * 1024) {
        x = (x * 1103515245 + 12345) % 2 ** 31;
        out += x % 5 === 0 ? String.fromCharCode(33 + (x >> 8) % 90) : words[(x >> 4) % words.length];
    }
    return Buffer.from(out, "utf8");
}

const sha256 = (b: Uint8Array) => crypto.createHash("sha256").update(b).digest("hex");
const userDataBytes = (p: UserDataParams) => Buffer.from(renderUserDataBase64(p), "base64");

function copyContext(): string {
    const dst = fs.mkdtempSync(path.join(os.tmpdir(), "archaeo-det-ctx-"));
    fs.cpSync(path.join(PROJECT_ROOT, IMAGE_CONTEXT), dst, { recursive: true });
    return dst;
}

/** chmod every file and directory of a tree as a checkout under `umask` has them (exec bit kept). */
function chmodAsUmask(dir: string, umask: number): void {
    for (const e of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
        const full = path.join(e.parentPath, e.name);
        const exec = fs.statSync(full).mode & 0o100;
        fs.chmodSync(full, (e.isDirectory() || exec ? 0o777 : 0o666) & ~umask);
    }
}

const modeOf = (f: string) => fs.statSync(f).mode & 0o777;

describe("the same bytes from every machine", function () {
    this.timeout(120_000);

    describe("workstation user data (gzip, sent with userDataReplaceOnChange)", () => {
        it("the header is RFC 1952's with MTIME 0, XFL 2 and OS 3, here and with node:zlib writing a Mac's OS byte, and the trailer the CRC-32 and length of the document", () => {
            const check = () => {
                const gz = userDataBytes(params);
                const doc = Buffer.from(renderUserData(params), "utf8");
                //                              ID1   ID2   CM  FLG  MTIME (4 bytes)  XFL OS
                assert.deepEqual([...gz.subarray(0, 10)], [0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x03]);
                assert.deepEqual([...GZIP_HEADER], [...gz.subarray(0, 10)]);
                assert.equal(gz.readUInt32LE(gz.length - 8), zlib.crc32(doc), "CRC32 (checked against zlib's)");
                assert.equal(gz.readUInt32LE(gz.length - 4), doc.length, "ISIZE");
            };
            check();
            const restore = installForeignZlib();
            try { check(); } finally { restore(); }
            assert.equal(crc32(Buffer.from("123456789")), 0xcbf43926, "the CRC-32 check value");
        });

        it("does not depend on node:zlib: with zlib compressing as a Mac's (OS byte 19) and as another build (another deflate stream), the bytes are the same", () => {
            const before = userDataBytes(params);
            const doc = Buffer.from(renderUserData(params), "utf8");
            const orig = { gz: zlib.gzipSync(doc, { level: 9 }), raw: zlib.deflateRawSync(doc, { level: 9 }) };
            const restore = installForeignZlib();
            try {
                // The mutation is real: node:zlib now gives other bytes for the same document.
                assert.equal(zlib.gzipSync(doc, { level: 9 })[9], MACOS_OS_CODE);
                assert.notDeepEqual(zlib.deflateRawSync(doc, { level: 9 }), orig.raw);
                assert.notDeepEqual(zlib.gzipSync(doc, { level: 9 }), orig.gz);
                assert.deepEqual(userDataBytes(params), before);
                assert.deepEqual(gzipUserData(doc.toString("utf8")), before);
            } finally {
                restore();
            }
        });

        it("golden sha256: the compressor on a fixed document, and the rendered user data for a fixed config, here and with a foreign zlib", () => {
            const check = () => {
                assert.equal(sha256(deterministicGzip(sampleDocument())), GOLDEN_SAMPLE_GZIP_SHA256, "the compressor's bytes changed (pako version or options?)");
                assert.equal(sha256(userDataBytes(params)), GOLDEN_USER_DATA_SHA256, "the user data's bytes changed: every workstation would be replaced (changed the template on purpose? update the golden)");
            };
            check();
            const restore = installForeignZlib();
            try { check(); } finally { restore(); }
        });

        it("the size the 16 KiB budget checks is the size of the bytes sent, and the bytes inflate to the document", () => {
            const doc = renderUserData(params);
            assert.deepEqual(gzipUserData(doc), userDataBytes(params));
            assert.equal(decodeUserDataBase64(renderUserDataBase64(params)), doc);
            assert.equal(zlib.gunzipSync(deterministicGzip(sampleDocument())).toString("utf8"), sampleDocument().toString("utf8"));
            assert.deepEqual(deterministicGzip(Buffer.alloc(0)).subarray(0, 10), Buffer.from(GZIP_HEADER));
            assert.equal(zlib.gunzipSync(deterministicGzip(Buffer.alloc(0))).length, 0);
        });

        it("cloud-init's own code (util.decomp_gzip, which raises on a bad CRC, and user_data.convert_string) and Python's gzip inflate it to the document", () => {
            requireTool("/usr/bin/cloud-init", "cloud-init");
            const py = String.raw`
import gzip, sys
from cloudinit import util
from cloudinit.user_data import convert_string
raw = open(sys.argv[1], "rb").read()
a = util.decomp_gzip(raw, quiet=False, decode=False)
b = gzip.decompress(raw)
c = convert_string(raw).get_payload(decode=True)
assert a == b == c, "cloud-init and gzip disagree"
sys.stdout.buffer.write(a)
`;
            const dir = tmpDir("archaeo-det-");
            const good = path.join(dir, "ud.gz");
            fs.writeFileSync(good, userDataBytes(params));
            const r = spawnSync(PYTHON, ["-c", py, good], { encoding: "utf8" });
            assert.equal(r.status, 0, r.stderr);
            assert.equal(r.stdout, renderUserData(params));
            // Control: a wrong CRC is refused by the same code (the check above is a real one).
            const bad = Buffer.from(userDataBytes(params));
            bad[bad.length - 8] ^= 0xff;
            fs.writeFileSync(good, bad);
            const b = spawnSync(PYTHON, ["-c", py, good], { encoding: "utf8" });
            assert.notEqual(b.status, 0);
            assert.match(b.stderr, /DecompressionError|CRC/);
        });
    });

    describe("image tag and the digest pulumi-docker compares", () => {
        it("a context checked out under umask 077 (0600/0700) has the tag of one under umask 022 (0644/0755); removing an exec bit changes it", () => {
            const a = copyContext();
            const b = copyContext();
            chmodAsUmask(a, 0o022);
            chmodAsUmask(b, 0o077);
            assert.equal(modeOf(path.join(b, "entrypoint.sh")), 0o700);
            assert.equal(modeOf(path.join(b, "Dockerfile")), 0o600);
            const tag = (d: string) => imageTag(contextDigest(d, path.join(d, "Dockerfile")), { BASE_DIGEST: "sha256:1" });
            assert.equal(tag(b), tag(a));
            assert.equal(contextDigest(b, path.join(b, "Dockerfile")), contextDigest(PROJECT_ROOT + "/" + IMAGE_CONTEXT, path.join(PROJECT_ROOT, IMAGE_CONTEXT, "Dockerfile")));
            fs.chmodSync(path.join(b, "entrypoint.sh"), 0o600);
            assert.notEqual(tag(b), tag(a), "the exec bit is part of the repository (git records 100755)");
            assert.deepEqual([gitFileMode(0o700), gitFileMode(0o600), gitFileMode(0o744), gitFileMode(0o677)], [0o755, 0o644, 0o755, 0o644]);
        });

        it("what the provider hashes (the real modes) equals the tag's digest once the context's modes are normalised, and only then", () => {
            const b = copyContext();
            chmodAsUmask(b, 0o077);
            const df = path.join(b, "Dockerfile");
            const want = contextDigest(b, df);
            assert.notEqual(providerContextDigest(b, df), want, "under umask 077 the provider would see another digest: a rebuild and a push of the same tag");
            const changed = normaliseContextModes(b, df);
            assert.ok(changed.includes("entrypoint.sh") && changed.includes("Dockerfile") && changed.includes("python"), changed.join(","));
            assert.equal(providerContextDigest(b, df), want);
            assert.equal(modeOf(path.join(b, "entrypoint.sh")), 0o755);
            assert.equal(modeOf(path.join(b, "Dockerfile")), 0o644);
            assert.equal(modeOf(path.join(b, "python")), 0o755);
            assert.deepEqual(normaliseContextModes(b, df), [], "idempotent");
        });

        it("the ImageRegistry normalises its context's modes before it registers the image, tagged by the repository's digest", async () => {
            const root = fs.mkdtempSync(path.join(os.tmpdir(), "archaeo-det-root-"));
            fs.cpSync(path.join(PROJECT_ROOT, IMAGE_CONTEXT), path.join(root, "ctx"), { recursive: true });
            const ctx = path.join(root, "ctx");
            const want = contextDigest(ctx, path.join(ctx, "Dockerfile"));
            chmodAsUmask(ctx, 0o077);
            const e = await engine();
            const { ImageRegistry } = require("../infra/foundation/registry") as typeof import("../infra/foundation/registry");
            const reg = new ImageRegistry("det", {
                repositoryName: "archaeo/x/test/pytorch-cuda", keyArn: "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
                projectRoot: root, programDir: root, context: "ctx", platform: "linux/amd64", buildArgs: {}, retentionDays: 0,
            });
            await e.settle();
            assert.equal(modeOf(path.join(ctx, "entrypoint.sh")), 0o755);
            assert.equal(modeOf(path.join(ctx, "smoke.py")), 0o644);
            assert.equal(providerContextDigest(ctx, path.join(ctx, "Dockerfile")), want);
            assert.equal(reg.imageTag, imageTag(want, {}));
        });

        it("every tracked text file is checked out with LF on every machine (.gitattributes eol=lf), so no CRLF reaches the user data or the image", () => {
            const r = spawnSync("git", ["ls-files", "--eol", "--", "infra/instance/files", IMAGE_CONTEXT], { cwd: PROJECT_ROOT, encoding: "utf8" });
            assert.equal(r.status, 0, r.stderr);
            const lines = r.stdout.trim().split("\n");
            assert.ok(lines.length > 10);
            // The attribute is what matters; an empty file (i/none) or a binary one (i/-text) has no line ending to keep.
            for (const l of lines) assert.match(l, /^i\/(lf|none|-text)\s+w\/(lf|none|-text)\s+attr\/text=auto eol=lf\s/, l);
        });

        it("in a git work tree a file's exec bit is the repository's, not the file system's (Windows 0666, WSL /mnt/c 0777)", () => {
            // The work tree's root above the context, as in this repository (a .git inside the context would be hashed).
            const top = tmpDir("archaeo-det-git-");
            const repo = path.join(top, "ctx");
            fs.cpSync(path.join(PROJECT_ROOT, IMAGE_CONTEXT), repo, { recursive: true });
            const git = (...a: string[]) => { const r = spawnSync("git", a, { cwd: top, encoding: "utf8" }); assert.equal(r.status, 0, r.stderr); };
            git("init", "-q");
            git("add", "-A");
            const df = path.join(repo, "Dockerfile");
            const want = contextDigest(repo, df);
            assert.equal(want, contextDigest(path.join(PROJECT_ROOT, IMAGE_CONTEXT), path.join(PROJECT_ROOT, IMAGE_CONTEXT, "Dockerfile")));
            fs.chmodSync(path.join(repo, "entrypoint.sh"), 0o644); // a file system that lost the bit git records (100755)
            assert.equal(contextDigest(repo, df), want, "the tag still comes from git's 100755");
            assert.deepEqual(normaliseContextModes(repo, df), ["entrypoint.sh"]);
            assert.equal(modeOf(path.join(repo, "entrypoint.sh")), 0o755);
            assert.equal(providerContextDigest(repo, df), want);
        });

        it("setuid, setgid and sticky bits on a file are cleared (Go's mode string hashes them: 'urwxr-xr-x'); a shared directory keeps its group bits", () => {
            const b = copyContext();
            const df = path.join(b, "Dockerfile");
            const want = contextDigest(b, df);
            fs.chmodSync(path.join(b, "entrypoint.sh"), 0o4755);
            fs.chmodSync(path.join(b, "python"), 0o2775);
            assert.notEqual(providerContextDigest(b, df), want, "the provider would hash the setuid bit");
            normaliseContextModes(b, df);
            assert.equal(fs.statSync(path.join(b, "entrypoint.sh")).mode & 0o7777, 0o755);
            assert.equal(fs.statSync(path.join(b, "python")).mode & 0o7777, 0o2775, "directories only gain bits");
            assert.equal(providerContextDigest(b, df), want);
        });

        it("a FIFO in the context is refused by name (fsutil would hand it to the provider)", () => {
            const b = copyContext();
            const r = spawnSync("mkfifo", [path.join(b, "pipe")]);
            assert.equal(r.status, 0);
            assert.throws(() => contextDigest(b, path.join(b, "Dockerfile")), /'pipe' is neither a file nor a directory/);
        });
    });

    describe("line endings", () => {
        it("a host script with CRLF (a Windows checkout from before .gitattributes) is refused with the fix, not shipped", () => {
            const { compactScript } = require("../infra/instance/userdata") as typeof import("../infra/instance/userdata");
            assert.throws(() => compactScript("archaeo-status", "#!/bin/bash\r\n# Status\r\nset -euo pipefail\r\necho ok\r\n"), /archaeo-status has CRLF line endings; renormalise the checkout \(git add --renormalize/);
            assert.doesNotThrow(() => compactScript("archaeo-status", "#!/bin/bash\n# Status\nset -euo pipefail\necho ok\n"));
        });
    });

    describe("against Node's own zlib on this Linux machine", () => {
        it("every stack's user data is byte-identical to what zlib.gzipSync gave before (no replacement of workstations deployed from Linux)", async function () {
            // The claim is about the machine the stacks were deployed from: Linux, Node 20's bundled zlib 1.3.1.
            if (process.platform !== "linux" || !process.versions.zlib.startsWith("1.3.1")) this.skip();
            const { runStack } = require("./helpers/program") as typeof import("./helpers/program");
            let n = 0;
            for (const stack of ["example", "city-museum", "uni-archaeology"]) {
                for (const r of (await runStack(stack)).resources.filter((x) => x.type === "aws:ec2/instance:Instance")) {
                    const gz = Buffer.from(r.inputs.userDataBase64 as string, "base64");
                    const text = zlib.gunzipSync(gz);
                    assert.ok(gz.equals(zlib.gzipSync(text, { level: 9 })), `${stack} ${r.name}: pako's bytes differ from zlib.gzipSync's`);
                    n++;
                }
            }
            assert.ok(n >= 3, `${n} workstations`);
        });
    });

    describe("in a child process with umask 077, another time zone and locale, and a Mac's zlib", () => {
        it("renders the same user data and, from a real git checkout, the same image tag as here under umask 022", () => {
            const here = tmpDir("archaeo-det-022-");
            const old = process.umask(0o022);
            let ctx: string;
            try { ctx = checkoutFromIndex(here, IMAGE_CONTEXT); } finally { process.umask(old); }
            assert.equal(modeOf(path.join(ctx, "entrypoint.sh")), 0o755);
            const hereDigest = contextDigest(ctx, path.join(ctx, "Dockerfile"));

            const there = tmpDir("archaeo-det-077-");
            const r = spawnSync("/bin/sh", ["-c", 'umask 077 && exec "$0" "$@"', process.execPath, "--require", "tsx/cjs", "test/helpers/render-elsewhere.ts", there, JSON.stringify(params)], {
                cwd: PROJECT_ROOT, encoding: "utf8", timeout: 90_000,
                env: { PATH: process.env.PATH, HOME: process.env.HOME, TZ: "Pacific/Chatham", LANG: "tr_TR.UTF-8", LC_ALL: "tr_TR.UTF-8" },
            });
            assert.equal(r.status, 0, r.stderr);
            const child = JSON.parse(r.stdout);
            // The mutations took effect in the child.
            assert.deepEqual([child.umask, child.tz, child.zlibOsByte], ["77", "Pacific/Chatham", MACOS_OS_CODE]);
            assert.deepEqual(child.modes, { Dockerfile: "600", "entrypoint.sh": "700" });
            assert.notEqual(child.providerBefore, child.digest, "the provider would have seen the umask");
            // And changed nothing.
            assert.equal(child.userDataSha256, sha256(userDataBytes(params)));
            assert.equal(child.userDataSha256, GOLDEN_USER_DATA_SHA256);
            assert.equal(child.digest, hereDigest);
            assert.equal(child.tag, imageTag(hereDigest, {}));
            assert.equal(child.providerAfter, hereDigest);
        });
    });
});
