/**
 * Child of test/determinism.test.ts, started with another umask, time zone and locale, and with
 * node:zlib compressing as a Mac's would (./foreign-zlib): checks the image context out of git's index
 * into argv[2] under its own umask, and prints, as JSON, the user data for the parameters in argv[3]
 * and the image tag and digests of that checkout.
 */
import { spawnSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { installForeignZlib } from "./foreign-zlib";
import { checkoutFromIndex } from "./checkout";

installForeignZlib();
// The modules under test call zlib through its module object, so the patch above reaches them whenever they load.
const { renderUserDataBase64 } = require("../../infra/instance/userdata") as typeof import("../../infra/instance/userdata");
const { contextDigest, imageTag, normaliseContextModes, providerContextDigest } = require("../../infra/foundation/registry") as typeof import("../../infra/foundation/registry");
const { IMAGE_CONTEXT } = require("../../infra/foundation") as typeof import("../../infra/foundation");

const [dest, paramsJson] = process.argv.slice(2);
const ctx = checkoutFromIndex(dest, IMAGE_CONTEXT);
const df = path.join(ctx, "Dockerfile");
const modes = Object.fromEntries(["Dockerfile", "entrypoint.sh"].map((f) => [f, (fs.statSync(path.join(ctx, f)).mode & 0o777).toString(8)]));
const digest = contextDigest(ctx, df);
const providerBefore = providerContextDigest(ctx, df);
normaliseContextModes(ctx, df);
process.stdout.write(JSON.stringify({
    umask: process.umask().toString(8),
    tz: Intl.DateTimeFormat().resolvedOptions().timeZone,
    zlibOsByte: require("zlib").gzipSync(Buffer.from("x"))[9],
    git: spawnSync("git", ["--version"], { encoding: "utf8" }).stdout.trim(),
    modes,
    userDataSha256: crypto.createHash("sha256").update(Buffer.from(renderUserDataBase64(JSON.parse(paramsJson)), "base64")).digest("hex"),
    digest,
    tag: imageTag(digest, {}),
    providerBefore,
    providerAfter: providerContextDigest(ctx, df),
}));
