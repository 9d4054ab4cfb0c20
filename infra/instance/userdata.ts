/**
 * cloud-init user data for the workstation: a pure function of plain values (no Outputs), so it can
 * be checked by `cloud-init schema` and shellcheck in tests. It carries no secret: the Jupyter token
 * is read from its SSM SecureString at boot by archaeo-prepare.
 */
import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import { PORTS as WORKBENCH_PORTS } from "../constants";
import type { AccessMode } from "../config";

export interface UserDataParams {
    region: string;
    /** repository@sha256:... of the workbench image. */
    imageRef: string;
    workspaceVolumeId: string;
    /** SSM path of the stack (/archaeo/<institution>/<stack>). */
    ssmPath: string;
    accessMode: AccessMode;
    sshPublicKeys: readonly string[];
    /** Host memory in GiB, to size /dev/shm. */
    memoryGiB: number;
    /** 0 disables auto-stop. */
    idleMinutes: number;
    gpuIdlePercent: number;
}

export const RESEARCHER_UID = 1000;
export const SCRIPT_NAMES = ["archaeo-workspace", "archaeo-prepare", "archaeo-autostop", "archaeo-smoke-report"] as const;
const FILES_DIR = path.join(__dirname, "files");

/** /dev/shm for DataLoader workers: a quarter of host memory, at least 2 GiB (Docker's default is 64 MB). */
export function shmSize(memoryGiB: number): string {
    return `${Math.max(2, Math.floor(memoryGiB / 4))}g`;
}

/** Registry host of an ECR image reference. */
export function registryOf(imageRef: string): string {
    return imageRef.split("/")[0];
}

function containerUnit(o: { role: string; description: string; port: number; gpus: boolean; extra: string[] }): string {
    const run = [
        "/usr/bin/docker run --rm --name archaeo-" + o.role,
        ...(o.gpus ? ["--gpus all"] : []),
        "--shm-size ${SHM_SIZE}",
        `--user ${RESEARCHER_UID}:${RESEARCHER_UID}`,
        "--cap-drop ALL --security-opt no-new-privileges",
        `-p \${BIND_ADDRESS}:${o.port}:${o.port}`,
        "-v /workspace:/workspace",
        ...o.extra,
        `\${IMAGE_REF} ${o.role}`,
    ];
    return [
        "[Unit]",
        `Description=${o.description}`,
        "Requires=archaeo-workspace.service archaeo-prepare.service docker.service",
        "After=archaeo-workspace.service archaeo-prepare.service docker.service",
        "",
        "[Service]",
        "EnvironmentFile=/etc/archaeo/workbench.env",
        `ExecStartPre=-/usr/bin/docker rm -f archaeo-${o.role}`,
        "ExecStart=" + run.join(" \\\n  "),
        `ExecStop=/usr/bin/docker stop archaeo-${o.role}`,
        "Restart=on-failure",
        "RestartSec=10",
        "",
        "[Install]",
        "WantedBy=multi-user.target",
        "",
    ].join("\n");
}

function oneshotUnit(o: { description: string; exec: string; requires: string[]; remain: boolean; wantedBy: boolean }): string {
    return [
        "[Unit]",
        `Description=${o.description}`,
        `Wants=network-online.target`,
        `After=network-online.target ${o.requires.join(" ")}`.trim(),
        ...(o.requires.length ? [`Requires=${o.requires.join(" ")}`] : []),
        "",
        "[Service]",
        "Type=oneshot",
        ...(o.remain ? ["RemainAfterExit=yes"] : []),
        `ExecStart=${o.exec}`,
        ...(o.wantedBy ? ["", "[Install]", "WantedBy=multi-user.target"] : []),
        "",
    ].join("\n");
}

/** The systemd units, by file name. */
export function systemdUnits(p: Pick<UserDataParams, "idleMinutes">): Record<string, string> {
    const units: Record<string, string> = {
        "archaeo-workspace.service": oneshotUnit({
            description: "Archaeo: mount the persistent workspace volume at /workspace",
            exec: "/usr/local/sbin/archaeo-workspace",
            requires: [],
            remain: true,
            wantedBy: true,
        }),
        "archaeo-prepare.service": oneshotUnit({
            description: "Archaeo: pull the workbench image from ECR and fetch the Jupyter token",
            exec: "/usr/local/sbin/archaeo-prepare",
            requires: ["docker.service"],
            remain: true,
            wantedBy: true,
        }),
        "archaeo-jupyter.service": containerUnit({
            role: "jupyter",
            description: "Archaeo: JupyterLab on the GPU",
            port: WORKBENCH_PORTS.jupyter,
            gpus: true,
            extra: ["-v /run/archaeo/jupyter-token:/run/secrets/jupyter-token:ro", "-e JUPYTER_TOKEN_FILE=/run/secrets/jupyter-token"],
        }),
        "archaeo-sshd.service": containerUnit({
            role: "sshd",
            description: "Archaeo: key-only SSH for batch training",
            port: WORKBENCH_PORTS.ssh,
            gpus: true,
            extra: ["-v /etc/archaeo/authorized_keys:/etc/archaeo/authorized_keys:ro"],
        }),
        "archaeo-tensorboard.service": containerUnit({
            role: "tensorboard",
            description: "Archaeo: TensorBoard over /workspace/runs",
            port: WORKBENCH_PORTS.tensorboard,
            gpus: false,
            extra: [],
        }),
        "archaeo-smoke.service": oneshotUnit({
            description: "Archaeo: GPU smoke test of the workbench image, once per boot",
            exec: "/usr/local/sbin/archaeo-smoke-report",
            requires: ["archaeo-prepare.service"],
            remain: true,
            wantedBy: true,
        }),
    };
    if (p.idleMinutes > 0) {
        units["archaeo-autostop.service"] = oneshotUnit({
            description: "Archaeo: stop the workstation when idle",
            exec: "/usr/local/sbin/archaeo-autostop",
            requires: [],
            remain: false,
            wantedBy: false,
        });
        units["archaeo-autostop.timer"] = [
            "[Unit]",
            "Description=Archaeo: check for idleness every 5 minutes",
            "",
            "[Timer]",
            "OnBootSec=5min",
            "OnUnitActiveSec=5min",
            "",
            "[Install]",
            "WantedBy=timers.target",
            "",
        ].join("\n");
    }
    return units;
}

/** Non-secret settings every script and unit reads. */
export function workbenchEnv(p: UserDataParams): string {
    const env: Record<string, string | number> = {
        AWS_REGION: p.region,
        IMAGE_REF: p.imageRef,
        REGISTRY: registryOf(p.imageRef),
        WORKSPACE_VOLUME_ID: p.workspaceVolumeId,
        JUPYTER_TOKEN_PARAMETER: `${p.ssmPath}/jupyter-token`,
        STATUS_PARAMETER_PREFIX: `${p.ssmPath}/status`,
        BIND_ADDRESS: p.accessMode === "ssm" ? "127.0.0.1" : "0.0.0.0",
        SHM_SIZE: shmSize(p.memoryGiB),
        IDLE_MINUTES: p.idleMinutes,
        GPU_IDLE_PERCENT: p.gpuIdlePercent,
        RESEARCHER_UID,
    };
    return Object.entries(env).map(([k, v]) => `${k}=${v}`).join("\n") + "\n";
}

/** The complete #cloud-config document. */
export function renderUserData(p: UserDataParams): string {
    const units = systemdUnits(p);
    const writeFiles = [
        { path: "/etc/archaeo/workbench.env", permissions: "0644", owner: "root:root", content: workbenchEnv(p) },
        { path: "/etc/archaeo/authorized_keys", permissions: "0644", owner: "root:root", content: p.sshPublicKeys.join("\n") + "\n" },
        ...SCRIPT_NAMES.map((name) => ({
            path: `/usr/local/sbin/${name}`,
            permissions: "0755",
            owner: "root:root",
            content: fs.readFileSync(path.join(FILES_DIR, name), "utf8"),
        })),
        ...Object.entries(units).map(([name, content]) => ({ path: `/etc/systemd/system/${name}`, permissions: "0644", owner: "root:root", content })),
    ];
    const enable = Object.keys(units).filter((u) => !u.startsWith("archaeo-autostop.service"));
    const doc = {
        write_files: writeFiles,
        runcmd: [
            ["systemctl", "daemon-reload"],
            ["systemctl", "enable", "--now", "--no-block", ...enable],
        ],
    };
    return "#cloud-config\n" + YAML.stringify(doc, { lineWidth: 0 });
}
