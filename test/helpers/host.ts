/**
 * The workstation's on-host scripts as the instance gets them, and the stubs they run against: taken from
 * the rendered user data (gzip, base64, decoded back), compacted as cloud-init writes them, with the modes
 * user data gives them, on a PATH of stub `aws`, `docker`, `nsenter`, `nvidia-smi`, `systemctl`, `sleep`,
 * `mount-s3`, `curl`, `gpg`, `apt-get` (test/host-scripts.test.ts, test/idle.test.ts).
 */
import { strict as assert } from "assert";
import { execFile } from "child_process";
import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import { decodeUserDataBase64, renderUserDataBase64, SCRIPT_NAMES, UserDataParams, workbenchEnv } from "../../infra/instance/userdata";
import { PYTHON, stubDir, tmpDir } from "./tools";

export const TOKEN = "t".repeat(48);
export const IMAGE = "123456789012.dkr.ecr.eu-west-2.amazonaws.com/archaeo/x/pytorch-cuda@sha256:" + "b".repeat(64);
export const KEYS = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDXGaKRpRrSjE+CE3c7Xrij0WQHqtf6/5mjNpauIw/Gy a@b\nssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHk7Kw0 c@d";
export const params: UserDataParams = {
    researcherId: "alice", region: "eu-west-2",
    workspaceVolumeId: "vol-0123456789abcdef0", ssmPath: "/archaeo/x/prod/researchers/alice",
    dataBucket: "archaeo-x-123456789012-eu-west-2", kmsKeyArn: "arn:aws:kms:eu-west-2:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    accessMode: "ssm",
    memoryGiB: 16, vcpus: 4, gpus: 1, idleMinutes: 45, gpuIdlePercent: 5,
};

/** The host scripts as the instance gets them: name -> content and mode, from the user data EC2 receives. */
const installed = new Map<string, Record<string, { content: string; mode: number }>>();
export function installedScripts(p: UserDataParams): Record<string, { content: string; mode: number }> {
    const key = JSON.stringify(p);
    if (!installed.has(key)) installed.set(key, readInstalledScripts(p));
    return installed.get(key)!;
}
function readInstalledScripts(p: UserDataParams): Record<string, { content: string; mode: number }> {
    const files: Array<{ path: string; content: string; permissions: string }> = YAML.parse(decodeUserDataBase64(renderUserDataBase64(p))).write_files;
    const out: Record<string, { content: string; mode: number }> = {};
    for (const name of SCRIPT_NAMES) {
        const f = files.find((x) => x.path === `/usr/local/sbin/${name}`);
        assert.ok(f, `user data installs /usr/local/sbin/${name}`);
        out[name] = { content: f.content, mode: parseInt(f.permissions, 8) };
    }
    return out;
}

/** Stubs read their behaviour from files in $STUB_STATE and append every call to $STUB_LOG. */
const STUBS: Record<string, string> = {
    aws: `printf 'aws %s\n' "$(printf '%s ' "$@" | tr '\n' '|' | sed 's/ $//')" >> "$STUB_LOG"
if [ "$1 $2" = "ssm get-parameter" ]; then
  name=""; prev=""; for a in "$@"; do [ "$prev" = --name ] && name="$a"; prev="$a"; done
  leaf="\${name##*/}"
  n="$(cat "$STUB_STATE/aws-failures" 2>/dev/null || echo 0)"
  if [ "$n" -gt 0 ]; then echo $((n - 1)) > "$STUB_STATE/aws-failures"; echo "An error occurred (ThrottlingException) when calling the GetParameter operation" >&2; exit 255; fi
  if [ -f "$STUB_STATE/fail-$leaf" ]; then echo "An error occurred (AccessDeniedException) when calling the GetParameter operation" >&2; exit 254; fi
  if [ -f "$STUB_STATE/value-$leaf" ]; then cat "$STUB_STATE/value-$leaf"; exit 0; fi
  case "$leaf" in
    image) echo "${IMAGE}" ;;
    ssh-keys) printf '%s\n' "${KEYS}" ;;
    *) echo "${TOKEN}" ;;
  esac
fi`,
    docker: `echo "docker $*" >> "$STUB_LOG"
case "$1" in
  image) [ -f "$STUB_STATE/no-image" ] && exit 1; exit 0 ;;
  images) cat "$STUB_STATE/images" 2>/dev/null || true ;;
  rmi) [ -f "$STUB_STATE/rmi-refuse" ] && exit 1; exit 0 ;;
  inspect) f="$STUB_STATE/$4.$(case "$3" in *Running*) echo running ;; *) echo pid ;; esac)"; [ -f "$f" ] || exit 1; cat "$f" ;;
  stats) cat "$STUB_STATE/\${*: -1}.cpu" 2>/dev/null || echo "0.04%" ;;
esac`,
    nsenter: `echo "nsenter $*" >> "$STUB_LOG"; cat "$STUB_STATE/ss" 2>/dev/null || true`,
    "nvidia-smi": `cat "$STUB_STATE/gpu" 2>/dev/null || printf '0, 0\\n'`,
    systemctl: `echo "systemctl $*" >> "$STUB_LOG"`,
    sleep: `echo "sleep $*" >> "$STUB_LOG"`,
    "mount-s3": `if [ "$1" = --version ]; then echo "mount-s3 $(cat "$STUB_STATE/mount-s3-version" 2>/dev/null || echo 1.23.0)"; exit 0; fi
echo "mount-s3 $*" >> "$STUB_LOG"; exit "$(cat "$STUB_STATE/mount-s3-rc" 2>/dev/null || echo 0)"`,
    curl: `echo "curl $*" >> "$STUB_LOG"; while [ "$#" -gt 0 ]; do if [ "$1" = -o ]; then echo "payload of $3" > "$2"; fi; shift; done`,
    gpg: `echo "gpg $*" >> "$STUB_LOG"; case "$*" in *--verify*) cat "$STUB_STATE/gpg-status" 2>/dev/null ;; esac; exit 0`,
    "apt-get": `echo "apt-get $*" >> "$STUB_LOG"; case "$*" in *install*) cat "$STUB_STATE/after-install-version" > "$STUB_STATE/mount-s3-version" ;; esac`,
};

export interface Host { dir: string; state: string; stub: string; log: string; env: NodeJS.ProcessEnv }

export function makeHost(p: UserDataParams = params): Host {
    const dir = tmpDir("archaeo-host-");
    const bin = path.join(dir, "bin");
    fs.mkdirSync(bin);
    stubDir(STUBS, bin);
    for (const [name, { content, mode }] of Object.entries(installedScripts(p))) {
        fs.writeFileSync(path.join(bin, name), content);
        fs.chmodSync(path.join(bin, name), mode);
    }
    const state = path.join(dir, "run");
    const stub = path.join(dir, "stub");
    fs.mkdirSync(state);
    fs.mkdirSync(stub);
    fs.writeFileSync(path.join(dir, "workbench.env"), workbenchEnv(p));
    const log = path.join(dir, "calls.log");
    fs.writeFileSync(log, "");
    return {
        dir, state, stub, log,
        env: {
            PATH: `${bin}:${process.env.PATH}`, HOME: dir, ARCHAEO_ENV_FILE: path.join(dir, "workbench.env"), ARCHAEO_STATE_DIR: state,
            ARCHAEO_CONSOLE: "/dev/null", STUB_LOG: log, STUB_STATE: stub, ARCHAEO_ROOT: dir, ARCHAEO_SESSION_DIR: path.join(dir, "workspace", ".archaeo"),
        },
    };
}

export function runScript(h: Host, name: string, args: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; out: string }> {
    return new Promise((resolve) => {
        // Python scripts run with the system interpreter, as on the host (a pyenv shim would reorder PATH).
        const file = path.join(h.dir, "bin", name);
        const python = fs.readFileSync(file, "utf8").startsWith("#!/usr/bin/env python3");
        execFile(python ? PYTHON : file, python ? [file, ...args] : args, { env: { ...h.env, ...env }, timeout: 60_000 }, (err, stdout, stderr) => {
            resolve({ code: err ? (typeof err.code === "number" ? err.code : 1) : 0, out: stdout + stderr });
        });
    });
}

export const calls = (h: Host, prefix: string) => fs.readFileSync(h.log, "utf8").split("\n").filter((l) => l.startsWith(prefix));
