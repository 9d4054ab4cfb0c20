/**
 * cloud-init user data for one researcher's workstation: a pure function of plain values (no
 * Outputs), so it can be checked by `cloud-init schema`, `systemd-analyze verify` and shellcheck in
 * tests. It carries no secret: the Jupyter token is read from its SSM SecureString at boot.
 *
 * Nor does it carry what changes between deployments: the image reference and the researcher's SSH
 * keys live in SSM parameters (<ssmPath>/image, <ssmPath>/ssh-keys) that archaeo-prepare reads at
 * every boot. User data changes replace the instance (cloud-init reads it on first boot only, so
 * `userDataReplaceOnChange`), and a replacement stops the running workstation to move its workspace
 * volume: a rebuilt image or a new key must never do that to a researcher's running work. They reach
 * the workstation at its next start.
 *
 * EC2 limits user data to 16,384 bytes before base64. The document is gzip-compressed for
 * `ec2.Instance.userDataBase64` (@pulumi/aws 7.x: "gzip-encoded user data must be base64-encoded and
 * passed via this argument to avoid corruption"; cloud-init decompresses gzip user data itself,
 * cloudinit/user_data.py `convert_string`), which keeps it far under the limit; `renderUserData`
 * refuses any input whose compressed document would pass USER_DATA_BUDGET_BYTES, measured on the
 * bytes sent. The compression is ./gzip.ts, not node:zlib: the bytes must not depend on the machine
 * or the Node release that renders them, or a deploy from another machine replaces every workstation.
 */
import * as fs from "fs";
import * as path from "path";
import * as zlib from "zlib";
import * as YAML from "yaml";
import { deterministicGzip } from "./gzip";
import type { AccessMode } from "../config";
import { MOUNTS, PORTS as WORKBENCH_PORTS, RESEARCHER_UID, SSH_KEY_LIMITS } from "../constants";
import { checkSshPublicKey } from "../config/ssh";
import { shmSizeGiB } from "../sizing";
import { dataMountsEnv } from "../tags";

/** Everything one researcher's workstation needs; plain values only. */
export interface UserDataParams {
    /** The researcher's slug (lowercase letters, digits, hyphens); names their S3 prefix and status. */
    researcherId: string;
    region: string;
    workspaceVolumeId: string;
    /** The researcher's SSM path, /archaeo/<institution>/<stack>/researchers/<id>: token at
     *  `<ssmPath>/jupyter-token`, image at `<ssmPath>/image`, keys at `<ssmPath>/ssh-keys`, status
     *  reports under `<ssmPath>/status/`. */
    ssmPath: string;
    /** Name of the institution's dataset bucket (datasets/ read-only, researchers/<id>/ read-write). */
    dataBucket: string;
    /** ARN of the stack's KMS key: new objects under /mydata are SSE-KMS with it (mount-s3 takes key ARNs only). */
    kmsKeyArn: string;
    /** Host memory in GiB: sizes /dev/shm and the containers' memory limit. */
    memoryGiB: number;
    /** Host vCPUs: sizes the containers' CPU limit. */
    vcpus: number;
    /** GPUs on the instance type; 0 runs the containers without --gpus. */
    gpus: number;
    /** Idle minutes before auto-stop; 0 disables it. */
    idleMinutes: number;
    /** GPU utilisation (%) at or above which the GPU counts as busy. */
    gpuIdlePercent: number;
    /** Hours after each boot at which the workstation stops, active or not, unless the researcher
     *  extends it (`archaeo-extend`); warned an hour ahead. 0 or absent: no maximum. */
    maxSessionHours?: number;
    /** ssm: SSH on 127.0.0.1 (reached through SSM); cidr: SSH (key-only) on the instance's address.
     *  Jupyter and TensorBoard listen on 127.0.0.1 in both modes (`ssh -L 8888:127.0.0.1:8888`). */
    accessMode: AccessMode;
}

/** Mountpoint for Amazon S3 release installed on the host (awslabs/mountpoint-s3 tag v1.23.0). */
export const MOUNT_S3_VERSION = "1.23.0";
/** Largest accepted key list (SSH_KEY_LIMITS): 6 keys of up to 800 characters each (an RSA-4096 key is 725 plus its comment); they live in an SSM parameter, not user data. */
export const MAX_SSH_PUBLIC_KEYS = SSH_KEY_LIMITS.perResearcher;
export const MAX_SSH_PUBLIC_KEY_CHARS = SSH_KEY_LIMITS.chars;

/** The SSM parameters archaeo-prepare reads at every boot, under the researcher's SSM path. */
export const BOOT_PARAMETERS = { image: "image", sshKeys: "ssh-keys", token: "jupyter-token" } as const;

/** The value of <ssmPath>/ssh-keys: one OpenSSH public key per line (what authorized_keys holds). */
export function sshKeysParameterValue(keys: readonly string[]): string {
    const problems = sshKeyProblems(keys);
    if (problems.length) throw new Error(`Invalid sshPublicKeys:\n- ${problems.join("\n- ")}`);
    return keys.join("\n");
}

/**
 * Problems with a researcher's key list, each naming the field; empty when valid. The same rules as the
 * stack config's (infra/config/ssh.ts checkSshPublicKey and SSH_KEY_LIMITS): here they guard the
 * parameter's value for callers that bypass config parsing.
 */
export function sshKeyProblems(keys: readonly string[]): string[] {
    const out: string[] = [];
    if (keys.length === 0) out.push("sshPublicKeys is empty; the researcher needs at least one key");
    if (keys.length > MAX_SSH_PUBLIC_KEYS) out.push(`sshPublicKeys has ${keys.length} keys; at most ${MAX_SSH_PUBLIC_KEYS} per researcher`);
    keys.forEach((k, i) => { const problem = checkSshPublicKey(k); if (problem) out.push(`sshPublicKeys[${i}] ${problem}`); });
    return out;
}
/** EC2's limit on raw user data, and the budget this module keeps the gzip document under. */
export const EC2_USER_DATA_LIMIT_BYTES = 16_384;
export const USER_DATA_BUDGET_BYTES = 12_288;
/** Minutes between auto-stop checks (archaeo-autostop.timer). */
export const AUTOSTOP_CHECK_MINUTES = 5;

/** Host-side scripts, installed to /usr/local/sbin; all bash except archaeo-autostop (Python 3). */
export const SCRIPT_NAMES = ["archaeo-status", "archaeo-workspace", "archaeo-prepare", "archaeo-mount", "archaeo-autostop", "archaeo-smoke-report"] as const;
const FILES_DIR = path.join(__dirname, "files");

/** /dev/shm for DataLoader workers: a quarter of host memory, at least 2 GiB (Docker's default is 64 MB). */
export function shmSize(memoryGiB: number): string {
    return `${shmSizeGiB(memoryGiB)}g`;
}

/** Memory and CPU for each workbench container: the host keeps a reserve for the OS, Docker and the
 *  two mount-s3 processes (MOUNT_MEMORY_MIB), so a runaway process is killed inside its container
 *  instead of taking the host (and the researcher's SSH way in) down. */
export const MOUNT_MEMORY_MIB = { data: 1024, mydata: 512 } as const;
export function containerLimits(memoryGiB: number, vcpus: number): { memoryMiB: number; cpus: number } {
    const reserveMiB = Math.min(8192, Math.max(2048, Math.round(memoryGiB * 1024 * 0.1))) + MOUNT_MEMORY_MIB.data + MOUNT_MEMORY_MIB.mydata;
    const cpus = Math.max(1, vcpus - (vcpus > 8 ? 1 : 0.5));
    return { memoryMiB: Math.max(1024, Math.round(memoryGiB * 1024) - reserveMiB), cpus };
}

/** Local cache for /data on the (KMS-encrypted) root volume, in MiB. */
export const DATA_CACHE_MIB = 20_480;

/** Every problem with the parameters, each naming the field and the fix; empty when valid. */
export function userDataProblems(p: UserDataParams): string[] {
    const out: string[] = [];
    if (!/^[a-z][a-z0-9-]{0,39}$/.test(p.researcherId)) out.push(`researcherId '${p.researcherId}' must be a slug: lowercase letters, digits and hyphens, starting with a letter, at most 40 characters`);
    if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(p.dataBucket)) out.push(`dataBucket '${p.dataBucket}' is not an S3 bucket name`);
    if (!/^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/[0-9a-f-]{36}$|^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/mrk-[0-9a-f]{32}$/.test(p.kmsKeyArn)) {
        out.push(`kmsKeyArn '${p.kmsKeyArn}' must be a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>); Mountpoint accepts no key ids or aliases`);
    }
    if (!/^\/[A-Za-z0-9_.\-/]+[^/]$/.test(p.ssmPath)) out.push(`ssmPath '${p.ssmPath}' must be an absolute SSM path without a trailing slash`);
    if (!/^vol-[0-9a-f]{8,17}$/.test(p.workspaceVolumeId)) out.push(`workspaceVolumeId '${p.workspaceVolumeId}' is not an EBS volume id`);
    if (!(p.memoryGiB >= 4)) out.push(`memoryGiB ${p.memoryGiB} must be at least 4`);
    if (!(Number.isInteger(p.vcpus) && p.vcpus >= 1)) out.push(`vcpus ${p.vcpus} must be a positive integer`);
    if (!(Number.isInteger(p.gpus) && p.gpus >= 0)) out.push(`gpus ${p.gpus} must be a non-negative integer`);
    if (!(Number.isInteger(p.idleMinutes) && p.idleMinutes >= 0)) out.push(`idleMinutes ${p.idleMinutes} must be a non-negative integer`);
    if (!(p.gpuIdlePercent >= 0 && p.gpuIdlePercent <= 100)) out.push(`gpuIdlePercent ${p.gpuIdlePercent} must be 0-100`);
    const maxSession = p.maxSessionHours ?? 0;
    if (!(Number.isInteger(maxSession) && (maxSession === 0 || (maxSession >= 2 && maxSession <= 720)))) {
        out.push(`maxSessionHours ${maxSession} must be 0 (no maximum) or a whole number of hours from 2 to 720`);
    }
    return out;
}

/**
 * A host script as installed: the shebang, the first line of its header (what it does), a pointer to
 * the documented source, and the code without comment lines or blank lines (shellcheck directives
 * kept). The full comments stay in the repository; dropping them keeps the user data small.
 */
export function compactScript(name: string, content: string): string {
    // A Windows checkout made before .gitattributes (eol=lf) existed keeps CRLF: other bytes would replace every
    // workstation, and bash on the host reads "\r" as part of each command.
    if (content.includes("\r")) throw new Error(`host script ${name} has CRLF line endings; renormalise the checkout (git add --renormalize . && git checkout -- infra/instance/files), then run again`);
    const lines = content.split("\n");
    const python = lines[0].includes("python");
    let i = 1;
    if (python && lines[1]?.startsWith('"""')) {
        while (i < lines.length && !(i === 1 ? lines[1].slice(3) : lines[i]).includes('"""')) i++;
        i++;
    } else {
        while (i < lines.length && lines[i].startsWith("#")) i++;
    }
    const purpose = (python ? lines[1].replace(/^"""/, "").replace(/"""$/, "") : lines[1].replace(/^#\s*/, "")).trim();
    const source = `archaeo-workbench infra/instance/files/${name}`;
    const header = python ? [`"""${purpose} (documented in ${source})"""`] : [`# ${purpose} (documented in ${source})`];
    const body = lines.slice(i).filter((l) => l.trim() !== "" && !(/^\s*#/.test(l) && !/shellcheck/.test(l)));
    return [lines[0], ...header, ...body].join("\n") + "\n";
}

/** Address SSH is published on: the instance's interfaces in cidr mode, loopback (SSM) otherwise. */
export function sshBindAddress(accessMode: AccessMode): string {
    return accessMode === "cidr" ? "0.0.0.0" : "127.0.0.1";
}

/** Flags every workbench container (services and the smoke test) runs with. */
export function containerFlags(p: Pick<UserDataParams, "gpus">): string[] {
    return [
        ...(p.gpus > 0 ? ["--gpus all"] : []),
        `--user ${RESEARCHER_UID}:${RESEARCHER_UID}`,
        "--cap-drop ALL --security-opt no-new-privileges",
        "--shm-size ${SHM_SIZE} --memory ${CONTAINER_MEMORY} --memory-swap ${CONTAINER_MEMORY} --cpus ${CONTAINER_CPUS} --pids-limit 32768",
        "--env-file /etc/archaeo/container.env",
        "-v /workspace:/workspace",
        "-v /workspace/.home:/home/researcher",
        "-v /data:/data:ro,rslave",
        "-v /mydata:/mydata:rslave",
    ];
}

function unit(sections: Record<string, Array<string | false>>): string {
    return Object.entries(sections)
        .map(([name, lines]) => [`[${name}]`, ...lines.filter((l): l is string => l !== false)].join("\n"))
        .join("\n\n") + "\n";
}

function execLines(cmd: string[]): string {
    return cmd.join(" \\\n  ");
}

/** The systemd units, by file name. */
export function systemdUnits(p: Pick<UserDataParams, "idleMinutes" | "gpus" | "researcherId" | "dataBucket" | "maxSessionHours">): Record<string, string> {
    const env = "EnvironmentFile=/etc/archaeo/workbench.env";
    // Written by archaeo-prepare at each boot from <ssmPath>/image (IMAGE_REF, REGISTRY).
    const imageEnv = "EnvironmentFile=/run/archaeo/image.env";
    const mountUnit = (what: "data" | "mydata", mnt: string, description: string) => unit({
        Unit: [
            `Description=Archaeo: ${description}`,
            "Wants=network-online.target",
            "After=network-online.target",
            "StartLimitIntervalSec=0",
        ],
        Service: [
            "Type=forking",
            env,
            `ExecStartPre=-/bin/umount -l ${mnt}`,
            `ExecStart=/usr/local/sbin/archaeo-mount ${what}`,
            `ExecStopPost=-/bin/umount -l ${mnt}`,
            "Restart=on-failure",
            "RestartSec=30",
            "TimeoutStartSec=15min",
        ],
        Install: ["WantedBy=multi-user.target"],
    });
    const units: Record<string, string> = {
        "archaeo-workspace.service": unit({
            Unit: ["Description=Archaeo: mount the persistent workspace volume at /workspace, home at /workspace/.home"],
            Service: ["Type=oneshot", "RemainAfterExit=yes", env, "ExecStart=/usr/local/sbin/archaeo-workspace", "TimeoutStartSec=infinity"],
            Install: ["WantedBy=multi-user.target"],
        }),
        "archaeo-prepare.service": unit({
            Unit: [
                "Description=Archaeo: pull the workbench image and fetch the Jupyter token (with retries)",
                "Wants=network-online.target",
                "Requires=docker.service",
                "After=network-online.target docker.service",
            ],
            Service: ["Type=oneshot", "RemainAfterExit=yes", env, "ExecStart=/usr/local/sbin/archaeo-prepare", "TimeoutStartSec=30min"],
            Install: ["WantedBy=multi-user.target"],
        }),
        "archaeo-data.service": mountUnit("data", "/data", `shared datasets s3://${p.dataBucket}/datasets/ read-only at /data`),
        "archaeo-mydata.service": mountUnit("mydata", "/mydata", `s3://${p.dataBucket}/researchers/${p.researcherId}/ read-write at /mydata`),
        // Jupyter owns the network and PID namespaces the SSH container joins (like a pod): `ssh -L
        // 8888:127.0.0.1:8888` reaches Jupyter, and Jupyter's activity extension sees SSH jobs.
        // Not ordered after the S3 mounts (issue 20): a restart starts Jupyter from the image on the root volume as soon as
        // prepare is done, without waiting on mount-s3 reaching S3; /data and /mydata are bound rslave (containerFlags),
        // so the mounts appear inside the running container when they come up, as a remount already does.
        "archaeo-jupyter.service": unit({
            Unit: [
                "Description=Archaeo: JupyterLab, TensorBoard behind it at /tensorboard/",
                "Requires=archaeo-workspace.service archaeo-prepare.service docker.service",
                "Wants=archaeo-data.service archaeo-mydata.service",
                "After=archaeo-workspace.service archaeo-prepare.service docker.service",
                "Upholds=archaeo-sshd.service",
            ],
            Service: [
                env,
                imageEnv,
                "ExecStartPre=-/usr/bin/docker rm -f archaeo-jupyter",
                "ExecStart=" + execLines([
                    "/usr/bin/docker run --rm --name archaeo-jupyter",
                    ...containerFlags(p),
                    `-p 127.0.0.1:${WORKBENCH_PORTS.jupyter}:${WORKBENCH_PORTS.jupyter}`,
                    `-p \${SSH_BIND_ADDRESS}:${WORKBENCH_PORTS.ssh}:${WORKBENCH_PORTS.ssh}`,
                    "-v /run/archaeo/jupyter-token:/run/secrets/jupyter-token:ro",
                    "-e JUPYTER_TOKEN_FILE=/run/secrets/jupyter-token",
                    "-e ARCHAEO_IMAGE=${IMAGE_REF}",
                    "${IMAGE_REF} jupyter",
                ]),
                "ExecStop=/usr/bin/docker stop archaeo-jupyter",
                "Restart=on-failure",
                "RestartSec=10",
            ],
            Install: ["WantedBy=multi-user.target"],
        }),
        "archaeo-sshd.service": unit({
            Unit: [
                "Description=Archaeo: key-only SSH into the researcher's workbench",
                "BindsTo=archaeo-jupyter.service",
                "Requires=archaeo-prepare.service",
                "After=archaeo-jupyter.service archaeo-prepare.service",
                "StartLimitIntervalSec=0",
            ],
            Service: [
                env,
                imageEnv,
                "ExecStartPre=-/usr/bin/docker rm -f archaeo-sshd",
                "ExecStart=" + execLines([
                    "/usr/bin/docker run --rm --name archaeo-sshd",
                    ...containerFlags(p),
                    "--network container:archaeo-jupyter --pid container:archaeo-jupyter",
                    "-e TINI_SUBREAPER=1",
                    "-v /run/archaeo/authorized_keys:/etc/archaeo/authorized_keys:ro",
                    "-e ARCHAEO_IMAGE=${IMAGE_REF}",
                    "${IMAGE_REF} sshd",
                ]),
                "ExecStop=/usr/bin/docker stop archaeo-sshd",
                "Restart=always",
                "RestartSec=10",
            ],
            Install: ["WantedBy=multi-user.target"],
        }),
        "archaeo-smoke.service": unit({
            Unit: [
                "Description=Archaeo: smoke test of the workbench image, once per boot",
                "Requires=archaeo-prepare.service archaeo-workspace.service",
                "After=archaeo-prepare.service archaeo-workspace.service",
            ],
            Service: [
                "Type=oneshot",
                "RemainAfterExit=yes",
                env,
                imageEnv,
                "ExecStart=" + execLines([
                    "/usr/local/sbin/archaeo-smoke-report /usr/bin/docker run --rm --name archaeo-smoke",
                    ...containerFlags(p),
                    `-e ARCHAEO_EXPECT_GPU=${p.gpus > 0 ? 1 : 0}`,
                    "-e ARCHAEO_IMAGE=${IMAGE_REF}",
                    "${IMAGE_REF} smoke",
                ]),
                "TimeoutStartSec=20min",
            ],
            Install: ["WantedBy=multi-user.target"],
        }),
    };
    if (p.idleMinutes > 0 || (p.maxSessionHours ?? 0) > 0) {
        units["archaeo-autostop.service"] = unit({
            Unit: ["Description=Archaeo: stop the workstation when nothing the researcher started is running, or its maximum session ends"],
            Service: ["Type=oneshot", "ExecStart=/usr/local/sbin/archaeo-autostop"],
        });
        units["archaeo-autostop.timer"] = unit({
            Unit: [`Description=Archaeo: check for idleness every ${AUTOSTOP_CHECK_MINUTES} minutes`],
            Timer: [`OnBootSec=${AUTOSTOP_CHECK_MINUTES}min`, `OnUnitActiveSec=${AUTOSTOP_CHECK_MINUTES}min`],
            Install: ["WantedBy=timers.target"],
        });
    }
    return units;
}

function envFile(env: Record<string, string | number>): string {
    return Object.entries(env).map(([k, v]) => `${k}=${v}`).join("\n") + "\n";
}

/** Non-secret settings every host script and unit reads (/etc/archaeo/workbench.env). */
export function workbenchEnv(p: UserDataParams): string {
    const limits = containerLimits(p.memoryGiB, p.vcpus);
    return envFile({
        AWS_REGION: p.region,
        RESEARCHER_ID: p.researcherId,
        WORKSPACE_VOLUME_ID: p.workspaceVolumeId,
        IMAGE_PARAMETER: `${p.ssmPath}/${BOOT_PARAMETERS.image}`,
        SSH_KEYS_PARAMETER: `${p.ssmPath}/${BOOT_PARAMETERS.sshKeys}`,
        JUPYTER_TOKEN_PARAMETER: `${p.ssmPath}/${BOOT_PARAMETERS.token}`,
        STATUS_PARAMETER_PREFIX: `${p.ssmPath}/status`,
        SSH_BIND_ADDRESS: sshBindAddress(p.accessMode),
        SHM_SIZE: shmSize(p.memoryGiB),
        CONTAINER_MEMORY: `${limits.memoryMiB}m`,
        CONTAINER_CPUS: limits.cpus,
        IDLE_MINUTES: p.idleMinutes,
        GPU_IDLE_PERCENT: p.gpuIdlePercent,
        MAX_SESSION_HOURS: p.maxSessionHours ?? 0,
        CPU_BUSY_PERCENT: 10,
        RESEARCHER_UID,
        DATA_BUCKET: p.dataBucket,
        KMS_KEY_ARN: p.kmsKeyArn,
        MOUNT_S3_VERSION,
        DATA_CACHE_MIB,
        DATA_MEMORY_MIB: MOUNT_MEMORY_MIB.data,
        MYDATA_MEMORY_MIB: MOUNT_MEMORY_MIB.mydata,
    });
}

/** The container contract's environment (docker --env-file /etc/archaeo/container.env). */
export function containerEnv(p: UserDataParams): string {
    return envFile({
        ARCHAEO_RESEARCHER: p.researcherId,
        ARCHAEO_DATA_MOUNTS: dataMountsEnv(p.dataBucket, p.researcherId),
        AWS_REGION: p.region,
        AWS_DEFAULT_REGION: p.region,
        SHELL: "/bin/bash",
        HOME: MOUNTS.home,
        ARCHAEO_GPU_IDLE_PERCENT: p.gpuIdlePercent,
        ARCHAEO_SSH_PORT: WORKBENCH_PORTS.ssh,
        // The image's activity extension warns an hour before the host's auto-stop ends the session
        // (archaeo_activity/session.py); archaeo-extend records extensions the auto-stop reads.
        ARCHAEO_MAX_SESSION_HOURS: p.maxSessionHours ?? 0,
        ARCHAEO_SESSION_LIMIT_BY: "host",
    });
}

/** The complete #cloud-config document (text; what cloud-init sees after decompressing). */
export function renderUserData(p: UserDataParams): string {
    const problems = userDataProblems(p);
    if (problems.length) throw new Error(`Invalid workstation user data for researcher '${p.researcherId}':\n- ${problems.join("\n- ")}`);
    const units = systemdUnits(p);
    const writeFiles = [
        { path: "/etc/archaeo/workbench.env", permissions: "0644", owner: "root:root", content: workbenchEnv(p) },
        { path: "/etc/archaeo/container.env", permissions: "0644", owner: "root:root", content: containerEnv(p) },
        ...SCRIPT_NAMES.map((name) => ({
            path: `/usr/local/sbin/${name}`,
            permissions: "0755",
            owner: "root:root",
            content: compactScript(name, fs.readFileSync(path.join(FILES_DIR, name), "utf8")),
        })),
        ...Object.entries(units).map(([name, content]) => ({ path: `/etc/systemd/system/${name}`, permissions: "0644", owner: "root:root", content })),
    ];
    // Started by systemd in dependency order; the oneshot autostop service only by its timer.
    const enable = Object.keys(units).filter((u) => u !== "archaeo-autostop.service");
    const doc = {
        write_files: writeFiles,
        runcmd: [
            ["mkdir", "-p", "/data", "/mydata"],
            ["systemctl", "daemon-reload"],
            ["systemctl", "enable", "--now", "--no-block", ...enable],
        ],
    };
    const text = "#cloud-config\n" + YAML.stringify(doc, { lineWidth: 0 });
    const size = gzipUserData(text).length;
    if (size > USER_DATA_BUDGET_BYTES) {
        throw new Error(`Workstation user data for '${p.researcherId}' is ${size} bytes gzip-compressed, over the ${USER_DATA_BUDGET_BYTES}-byte budget (EC2 allows ${EC2_USER_DATA_LIMIT_BYTES})`);
    }
    return text;
}

/** The bytes sent: gzip (./gzip.ts) of the UTF-8 document, the same from every machine and Node release. */
export function gzipUserData(text: string): Buffer {
    return deterministicGzip(Buffer.from(text, "utf8"));
}

/** The user data for `ec2.Instance.userDataBase64`: the #cloud-config document, gzip, base64. */
export function renderUserDataBase64(p: UserDataParams): string {
    return gzipUserData(renderUserData(p)).toString("base64");
}

/** The #cloud-config text back from `userDataBase64` (for policies and tests that read it). Inflating has
 *  one correct result, so node:zlib is fine here (and an implementation independent of the encoder). */
export function decodeUserDataBase64(b64: string): string {
    const raw = Buffer.from(b64, "base64");
    return (raw[0] === 0x1f && raw[1] === 0x8b ? zlib.gunzipSync(raw) : raw).toString("utf8");
}
