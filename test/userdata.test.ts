/** Workstation user data: cloud-init's schema and gzip handling, systemd's unit checker, size, content. */
import { strict as assert } from "assert";
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import {
    containerFlags, containerLimits, decodeUserDataBase64, EC2_USER_DATA_LIMIT_BYTES, MAX_SSH_PUBLIC_KEY_CHARS,
    MAX_SSH_PUBLIC_KEYS, renderUserData, renderUserDataBase64, SCRIPT_NAMES, shmSize, sshKeysParameterValue, systemdUnits, USER_DATA_BUDGET_BYTES,
    UserDataParams, userDataProblems,
} from "../infra/instance/userdata";
import { connectInfo } from "../infra/instance/connect";
import { secretLikeMatches } from "../policies/lib/secret-scan";
import { cloudInitSchema, PYTHON, requireTool, run, shellcheck, tmpDir, tmpFile } from "./helpers/tools";
import { SAMPLE_USER_DATA_PARAMS } from "./helpers/userdata-params";

const ED25519 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDXGaKRpRrSjE+CE3c7Xrij0WQHqtf6/5mjNpauIw/Gy a@b";
const params: UserDataParams = SAMPLE_USER_DATA_PARAMS;

/** An OpenSSH string (RFC 4251 §5): uint32 length, then the bytes. */
const sshString = (b: Buffer) => Buffer.concat([Buffer.from([b.length >>> 24, (b.length >>> 16) & 255, (b.length >>> 8) & 255, b.length & 255]), b]);

/**
 * An OpenSSH RSA-4096 public key line of exactly `chars` characters (random, so gzip can't shrink it): a blob
 * OpenSSH parses (sshkey.c: string "ssh-rsa", mpint e = 65537, mpint n of 4096 bits, nothing after), since the
 * config reads keys as OpenSSH does (infra/config/ssh.ts). 4096 bits: 512 bytes with the top bit set, so the
 * mpint carries a leading zero byte.
 */
function rsa4096Line(chars: number): string {
    const n = crypto.randomBytes(512);
    n[0] |= 0x80;
    const blob = Buffer.concat([sshString(Buffer.from("ssh-rsa")), sshString(Buffer.from([0x01, 0x00, 0x01])), sshString(Buffer.concat([Buffer.from([0]), n]))]);
    const line = `ssh-rsa ${blob.toString("base64")} `;
    return line + crypto.randomBytes(chars).toString("base64").replace(/[^A-Za-z0-9]/g, "x").slice(0, chars - line.length);
}

/**
 * The lines of a host script that are code: after the leading header (the comment block of a shell
 * script, the docstring of a Python one), neither blank nor a whole-line comment (shellcheck directives
 * are code to shellcheck).
 */
function codeLines(source: string): string[] {
    const lines = source.replace(/\n$/, "").split("\n");
    let start = 1;
    if (lines[0].includes("python")) {
        const closes = lines.findIndex((l, i) => i >= 1 && (i === 1 ? l.slice(3) : l).includes('"""'));
        start = closes + 1;
    } else {
        while (lines[start].startsWith("#")) start++;
    }
    return lines.slice(start).filter((l) => l.trim() !== "" && !(l.trimStart().startsWith("#") && !l.includes("shellcheck")));
}

function files(ud: string): Record<string, string> {
    return Object.fromEntries(YAML.parse(ud).write_files.map((f: any) => [f.path, f.content]));
}

describe("workstation user data", () => {
    const ud = renderUserData(params);
    const docObj = YAML.parse(ud);
    const f = files(ud);

    describe("cloud-init and EC2", () => {
        it("passes cloud-init's own schema check (the decompressed document)", () => {
            const r = cloudInitSchema(tmpFile("user-data.yaml", decodeUserDataBase64(renderUserDataBase64(params))));
            assert.equal(r.status, 0, r.output);
            assert.match(r.output, /Valid schema|Valid cloud-config/);
        });

        // One breakage per case, each on the real rendered document, each refused with its key named.
        const breakages: Array<[string, (d: any) => void, RegExp]> = [
            ["write_files is not a list", (d) => { d.write_files = 7; }, /write_files: 7 is not of type 'array'/],
            ["runcmd is not a list", (d) => { d.runcmd = 42; }, /runcmd: 42 is not of type 'array'/],
            ["a file mode as a number", (d) => { d.write_files[0].permissions = 420; }, /write_files\.0\.permissions: 420 is not of type 'string'/],
            ["a file without a path", (d) => { delete d.write_files[0].path; }, /write_files\.0: 'path' is a required property/],
            ["an unknown file encoding", (d) => { d.write_files[0].encoding = "rot13"; }, /write_files\.0\.encoding: 'rot13' is not one of/],
            ["a command argument that is not a string", (d) => { d.runcmd[1] = ["systemctl", 5]; }, /runcmd\.1: .* is not valid under any of the given schemas/],
        ];
        for (const [title, mutate, expected] of breakages) {
            it(`cloud-init refuses: ${title}`, () => {
                const d = YAML.parse(ud);
                mutate(d);
                const r = cloudInitSchema(tmpFile("broken.yaml", "#cloud-config\n" + YAML.stringify(d, { lineWidth: 0 })));
                assert.notEqual(r.status, 0, r.output);
                assert.match(r.output, expected);
            });
        }

        it("is gzip for userDataBase64, and cloud-init's own reader turns it back into the #cloud-config text", () => {
            // cloud-init decompresses gzip user data before anything else (cloudinit/user_data.py convert_string).
            const gz = Buffer.from(renderUserDataBase64(params), "base64");
            assert.deepEqual([gz[0], gz[1]], [0x1f, 0x8b], "gzip magic");
            const py = "import sys; from cloudinit.user_data import convert_string; " +
                "m = convert_string(open(sys.argv[1], 'rb').read()); sys.stdout.write(m.get_payload(decode=True).decode())";
            const file = tmpFile("ud.gz", "");
            fs.writeFileSync(file, gz);
            const r = run(PYTHON, ["-c", py, file]);
            assert.equal(r.status, 0, r.output);
            assert.equal(r.output, ud);
        });

        it("the same input always gives the same bytes (no timestamp in the gzip header)", () => {
            // Two renders within one second would agree even with a timestamp: read the header instead.
            // RFC 1952 section 2.3: ID1 ID2 CM FLG MTIME(4 bytes, LSB first) XFL OS; MTIME 0 = "no time stamp".
            const gz = Buffer.from(renderUserDataBase64(params), "base64");
            assert.deepEqual([...gz.subarray(0, 3)], [0x1f, 0x8b, 0x08], "gzip magic (ID1 ID2) and CM = 8 (deflate)");
            assert.equal(gz[3] & 0x18, 0, "FLG: no FNAME or FCOMMENT (a file name or comment would vary by machine)");
            assert.deepEqual([...gz.subarray(4, 8)], [0, 0, 0, 0], `MTIME is ${gz.readUInt32LE(4)}, not 0`);
            assert.equal(renderUserDataBase64(params), renderUserDataBase64({ ...params }));
        });

        it("the largest accepted config (long names, the biggest instance, cidr mode) stays far under EC2's 16,384 bytes", () => {
            const largest: UserDataParams = {
                ...params,
                researcherId: "a".repeat(40),
                ssmPath: "/archaeo/" + "i".repeat(40) + "/" + "s".repeat(40) + "/researchers/" + "a".repeat(40),
                dataBucket: "b".repeat(63),
                memoryGiB: 768, vcpus: 192, gpus: 8, idleMinutes: 1440, gpuIdlePercent: 100, accessMode: "cidr",
            };
            assert.deepEqual(userDataProblems(largest), []);
            const raw = Buffer.from(renderUserDataBase64(largest), "base64").length;
            assert.ok(raw <= USER_DATA_BUDGET_BYTES && USER_DATA_BUDGET_BYTES <= EC2_USER_DATA_LIMIT_BYTES * 0.75, `${raw} bytes`);
        });

        // SSM Parameter Store: a Standard parameter holds 4 KB, an Advanced one 8 KB (the workstation's keys
        // parameter is Intelligent-Tiering, so SSM takes Advanced only when the keys need it).
        it(`the keys parameter: ${MAX_SSH_PUBLIC_KEYS} RSA-4096 keys of ${MAX_SSH_PUBLIC_KEY_CHARS} characters fit an Advanced parameter; one key too many or too long is refused, naming sshPublicKeys`, () => {
            const most = sshKeysParameterValue(Array.from({ length: MAX_SSH_PUBLIC_KEYS }, () => rsa4096Line(MAX_SSH_PUBLIC_KEY_CHARS)));
            assert.ok(Buffer.byteLength(most) <= 8192, `${Buffer.byteLength(most)} bytes`);
            assert.equal(sshKeysParameterValue([ED25519, ED25519]), `${ED25519}\n${ED25519}`);
            assert.throws(() => sshKeysParameterValue(Array.from({ length: MAX_SSH_PUBLIC_KEYS + 1 }, () => ED25519)),
                new RegExp(`sshPublicKeys has ${MAX_SSH_PUBLIC_KEYS + 1} keys; at most ${MAX_SSH_PUBLIC_KEYS}`));
            assert.throws(() => sshKeysParameterValue([rsa4096Line(MAX_SSH_PUBLIC_KEY_CHARS + 1)]), /sshPublicKeys\[0\] is 801 characters/);
            assert.throws(() => sshKeysParameterValue([]), /sshPublicKeys is empty/);
        });

        it("validates every field, naming it and the fix", () => {
            const bad = userDataProblems({ ...params, researcherId: "Alice Smith", dataBucket: "B", kmsKeyArn: "alias/aws/s3", ssmPath: "archaeo/",
                workspaceVolumeId: "v", memoryGiB: 2, vcpus: 0, gpus: -1, idleMinutes: 1.5, gpuIdlePercent: 101 });
            for (const field of ["researcherId", "dataBucket", "kmsKeyArn", "ssmPath", "workspaceVolumeId", "memoryGiB", "vcpus", "gpus", "idleMinutes", "gpuIdlePercent"]) {
                assert.ok(bad.some((m) => m.startsWith(field)), `${field}: ${JSON.stringify(bad)}`);
            }
            assert.match(bad.join("\n"), /Mountpoint accepts no key ids or aliases/);
            assert.throws(() => renderUserData({ ...params, researcherId: "Alice" }), /Invalid workstation user data for researcher 'Alice':\n- researcherId/);
        });
    });

    describe("host scripts and units", () => {
        it("every embedded script is what the repository holds minus comments, and passes shellcheck / compiles", () => {
            // What the instance gets (decoded from the bytes EC2 receives), against the repository's file
            // read line by line here, not through compactScript: every line of code, in order, nothing else.
            const sent = files(decodeUserDataBase64(renderUserDataBase64(params)));
            for (const name of SCRIPT_NAMES) {
                const content = sent[`/usr/local/sbin/${name}`];
                assert.equal(content, f[`/usr/local/sbin/${name}`], `${name}: the rendered text and the bytes sent agree`);
                const source = fs.readFileSync(path.join(__dirname, "..", "infra", "instance", "files", name), "utf8");
                const [shebang, pointer, ...body] = content.replace(/\n$/, "").split("\n");
                assert.equal(shebang, source.split("\n")[0], `${name}: the shebang`);
                assert.ok(pointer.includes(`infra/instance/files/${name}`), `${name} says where its documentation is`);
                assert.deepEqual(body, codeLines(source), `${name}: the code is the repository's, minus comment and blank lines`);
                if (!shebang.includes("python")) assert.match(body[0], /^set -e?uo pipefail$/, `${name}: strict mode first`);
                const python = content.startsWith("#!/usr/bin/env python3");
                const r = python ? run(PYTHON, ["-m", "py_compile", tmpFile(name, content)]) : shellcheck(tmpFile(name, content));
                assert.equal(r.status, 0, `${name}:\n${r.output}`);
            }
        });

        it("shellcheck is live: it flags an unquoted expansion", () => {
            assert.notEqual(shellcheck(tmpFile("bad.sh", "#!/usr/bin/env bash\nrm -rf $1/*\n")).status, 0);
        });

        // systemd's own checker over the units in a scratch root with the commands they name.
        const verify = (units: Record<string, string>) => {
            requireTool("/usr/bin/systemd-analyze", "systemd");
            const root = tmpDir("archaeo-systemd-");
            for (const d of ["etc/systemd/system", "usr/local/sbin", "usr/bin", "bin", "usr/lib/systemd/system"]) fs.mkdirSync(path.join(root, d), { recursive: true });
            for (const exe of [...SCRIPT_NAMES.map((n) => `usr/local/sbin/${n}`), "usr/bin/docker", "bin/umount"]) fs.writeFileSync(path.join(root, exe), "#!/bin/sh\n", { mode: 0o755 });
            fs.writeFileSync(path.join(root, "etc/systemd/system/docker.service"), "[Unit]\nDescription=stub\n[Service]\nExecStart=/usr/bin/docker\n");
            for (const t of ["multi-user.target", "timers.target", "network-online.target", "basic.target", "sysinit.target"]) {
                fs.copyFileSync(`/usr/lib/systemd/system/${t}`, path.join(root, "usr/lib/systemd/system", t));
            }
            for (const [name, text] of Object.entries(units)) fs.writeFileSync(path.join(root, "etc/systemd/system", name), text);
            return run("systemd-analyze", ["verify", "--man=no", `--root=${root}`, ...Object.keys(units).map((u) => path.join(root, "etc/systemd/system", u))]);
        };

        it("every unit passes `systemd-analyze verify` without a warning", () => {
            const r = verify(systemdUnits(params));
            assert.equal(r.status, 0, r.output);
            assert.equal(r.output.trim(), "", r.output);
        });

        it("systemd-analyze is live: it names a misspelt key", () => {
            const units = systemdUnits(params);
            const r = verify({ "archaeo-sshd.service": units["archaeo-sshd.service"].replace("Restart=always", "Restrt=always") });
            assert.match(r.output, /Unknown key .?Restrt/);
        });

        it("enables every unit but the timer-driven auto-stop service; creates the S3 mount points", () => {
            const enable: string[] = docObj.runcmd.find((c: string[]) => c[1] === "enable");
            assert.deepEqual(enable.slice(0, 4), ["systemctl", "enable", "--now", "--no-block"]);
            assert.deepEqual(new Set(enable.slice(4)), new Set(Object.keys(systemdUnits(params)).filter((u) => u !== "archaeo-autostop.service")));
            assert.deepEqual(docObj.runcmd[0], ["mkdir", "-p", "/data", "/mydata"]);
        });
    });

    describe("what the containers get", () => {
        const jupyter = f["/etc/systemd/system/archaeo-jupyter.service"];
        const sshd = f["/etc/systemd/system/archaeo-sshd.service"];
        const smoke = f["/etc/systemd/system/archaeo-smoke.service"];
        const env = f["/etc/archaeo/workbench.env"];

        // A change of user data replaces the workstation, and the replacement stops it (the workspace volume moves):
        // the image and the keys, which change between deployments, are read from SSM at each boot instead.
        it("carries settings and where to read the image and keys at boot, but no image, no key and no secret", () => {
            assert.match(env, /^IMAGE_PARAMETER=\/archaeo\/x\/prod\/researchers\/alice\/image$/m);
            assert.match(env, /^SSH_KEYS_PARAMETER=\/archaeo\/x\/prod\/researchers\/alice\/ssh-keys$/m);
            assert.doesNotMatch(ud, /@sha256:[0-9a-f]{64}|ssh-(ed25519|rsa) AAAA|^\s*IMAGE_REF=\S/m, "no image reference or key in user data");
            assert.match(env, /^WORKSPACE_VOLUME_ID=vol-0123456789abcdef0$/m);
            assert.match(env, /^JUPYTER_TOKEN_PARAMETER=\/archaeo\/x\/prod\/researchers\/alice\/jupyter-token$/m);
            assert.match(env, /^STATUS_PARAMETER_PREFIX=\/archaeo\/x\/prod\/researchers\/alice\/status$/m);
            assert.match(env, /^SHM_SIZE=8g$/m);
            assert.match(env, /^IDLE_MINUTES=45$/m);
            assert.match(env, /^MAX_SESSION_HOURS=0$/m);
            assert.match(env, /^GPU_IDLE_PERCENT=7$/m);
            assert.match(env, /^MOUNT_S3_VERSION=1\.23\.0$/m);
            assert.equal(f["/etc/archaeo/authorized_keys"], undefined);
            assert.deepEqual(secretLikeMatches(ud), []);
            assert.equal(secretLikeMatches(ud.replace("RESEARCHER_UID=1000", "JUPYTER_TOKEN=abcdefghijklmnopqrstuvwxyz012345")).length, 1, "the scan is live");
            // A finding is printed in the preview and the PR's checks: it names the variable, never the secret's characters.
            const [hit] = secretLikeMatches(ud.replace("RESEARCHER_UID=1000", "JUPYTER_TOKEN=abcdefghijklmnopqrstuvwxyz012345"));
            assert.equal(hit.excerpt, "JUPYTER_TOKEN=… (46 characters)");
            const [gh] = secretLikeMatches(`echo ghp_${"Q".repeat(36)} > /root/.token`);
            assert.equal(gh.kind, "GitHub token");
            assert.equal(gh.excerpt, "ghp_… (40 characters)");
            assert.doesNotMatch(ud, /JUPYTER_TOKEN=/);
        });

        it("the container contract's environment, for every container and the smoke test", () => {
            assert.equal(f["/etc/archaeo/container.env"], [
                "ARCHAEO_RESEARCHER=alice",
                "ARCHAEO_DATA_MOUNTS=/data=s3://archaeo-x-123456789012-eu-west-2/datasets/;/mydata=s3://archaeo-x-123456789012-eu-west-2/researchers/alice/",
                "AWS_REGION=eu-west-2", "AWS_DEFAULT_REGION=eu-west-2", "SHELL=/bin/bash", "HOME=/home/researcher",
                "ARCHAEO_GPU_IDLE_PERCENT=7", "ARCHAEO_SSH_PORT=2222", "ARCHAEO_MAX_SESSION_HOURS=0", "ARCHAEO_SESSION_LIMIT_BY=host", "",
            ].join("\n"));
            for (const unit of [jupyter, sshd, smoke]) {
                for (const flag of containerFlags(params)) assert.ok(unit.includes(flag), flag);
                // The image of this boot, from <ssmPath>/image through archaeo-prepare's /run/archaeo/image.env.
                assert.match(unit, /^EnvironmentFile=\/run\/archaeo\/image\.env$/m);
                assert.ok(unit.includes("-e ARCHAEO_IMAGE=${IMAGE_REF}") && unit.includes("${IMAGE_REF} "));
                assert.match(unit, /^(Requires|After)=.*archaeo-prepare\.service/m);
            }
        });

        it("same flags for services and smoke: non-root, no capabilities, limits sized from the instance, /dev/shm, mounts", () => {
            const flags = containerFlags(params).join(" ");
            for (const must of ["--gpus all", "--user 1000:1000", "--cap-drop ALL --security-opt no-new-privileges", "--shm-size ${SHM_SIZE}",
                "--memory ${CONTAINER_MEMORY} --memory-swap ${CONTAINER_MEMORY}", "--cpus ${CONTAINER_CPUS}", "--pids-limit",
                "-v /workspace/.home:/home/researcher", "-v /data:/data:ro,rslave", "-v /mydata:/mydata:rslave"]) {
                assert.ok(flags.includes(must), must);
            }
            assert.doesNotMatch(ud, /--privileged/);
            assert.ok(!containerFlags({ gpus: 0 }).includes("--gpus all"), "a CPU instance gets no --gpus");
            assert.match(env, /^CONTAINER_MEMORY=\d+m$/m);
            assert.match(smoke, /-e ARCHAEO_EXPECT_GPU=1/);
        });

        it("container limits leave the host a reserve for the OS, Docker and mount-s3", () => {
            // g4dn.xlarge (16 GiB, 4 vCPU): 16384 - (2048 + 1536) MiB; g5.12xlarge (192 GiB, 48 vCPU): reserve capped at 8 GiB + 1.5 GiB.
            assert.deepEqual(containerLimits(16, 4), { memoryMiB: 12800, cpus: 3.5 });
            assert.deepEqual(containerLimits(192, 48), { memoryMiB: 196608 - 8192 - 1536, cpus: 47 });
            assert.deepEqual([shmSize(4), shmSize(16), shmSize(192)], ["2g", "4g", "48g"]);
        });

        for (const mode of ["ssm", "cidr"] as const) {
            it(`${mode} mode: Jupyter on 127.0.0.1 only, TensorBoard never published, SSH ${mode === "ssm" ? "on 127.0.0.1" : "on the instance's address"}`, () => {
                const u = files(renderUserData({ ...params, accessMode: mode }));
                const j = u["/etc/systemd/system/archaeo-jupyter.service"];
                assert.ok(j.includes("-p 127.0.0.1:8888:8888"), "Jupyter is published on loopback only (issue 8 item 14)");
                assert.ok(j.includes("-p ${SSH_BIND_ADDRESS}:2222:2222"));
                assert.match(u["/etc/archaeo/workbench.env"], new RegExp(`^SSH_BIND_ADDRESS=${mode === "ssm" ? "127\\.0\\.0\\.1" : "0\\.0\\.0\\.0"}$`, "m"));
                const unitText = Object.entries(u).filter(([p]) => p.startsWith("/etc/systemd/system/")).map(([, t]) => t).join("\n");
                const published = [...unitText.matchAll(/ -p (\S+)/g)].map((m) => m[1]);
                assert.deepEqual(published.sort(), ["${SSH_BIND_ADDRESS}:2222:2222", "127.0.0.1:8888:8888"]);
                assert.ok(!Object.keys(u).some((p) => /tensorboard/.test(p)), "no TensorBoard service: it runs behind Jupyter's proxy");
            });
        }

        it("SSH joins Jupyter's network and PID namespaces (ssh -L reaches Jupyter; Jupyter's activity extension sees SSH jobs)", () => {
            assert.ok(sshd.includes("--network container:archaeo-jupyter --pid container:archaeo-jupyter"));
            assert.match(sshd, /^BindsTo=archaeo-jupyter\.service$/m);
            assert.match(jupyter, /^Upholds=archaeo-sshd\.service$/m);
            assert.ok(sshd.includes("-v /run/archaeo/authorized_keys:/etc/archaeo/authorized_keys:ro"), "this boot's keys, from <ssmPath>/ssh-keys");
            assert.ok(jupyter.includes("-e JUPYTER_TOKEN_FILE=/run/secrets/jupyter-token") && jupyter.includes("/run/archaeo/jupyter-token:/run/secrets/jupyter-token:ro"));
        });

        it("S3 mounts: forking mount-s3 units, retried forever, started with Jupyter but not waited for (issue 20: a restart does not wait on S3; the rslave binds show the mounts when they come)", () => {
            for (const [what, mnt] of [["data", "/data"], ["mydata", "/mydata"]]) {
                const u = f[`/etc/systemd/system/archaeo-${what}.service`];
                for (const line of ["Type=forking", `ExecStart=/usr/local/sbin/archaeo-mount ${what}`, "Restart=on-failure", "StartLimitIntervalSec=0", `ExecStartPre=-/bin/umount -l ${mnt}`]) {
                    assert.ok(u.split("\n").includes(line), `${what}: ${line}`);
                }
            }
            assert.match(jupyter, /^Wants=archaeo-data\.service archaeo-mydata\.service$/m);
            assert.match(jupyter, /^After=archaeo-workspace\.service archaeo-prepare\.service docker\.service$/m);
            assert.match(env, /^KMS_KEY_ARN=arn:aws:kms:eu-west-2:123456789012:key\/1234abcd-12ab-34cd-56ef-1234567890ab$/m);
            assert.match(env, /^DATA_BUCKET=archaeo-x-123456789012-eu-west-2$/m);
        });

        it("auto-stop: a 5-minute timer; none at idleMinutes 0 without a maximum session, one with it", () => {
            const units = systemdUnits(params);
            assert.match(units["archaeo-autostop.timer"], /OnUnitActiveSec=5min/);
            assert.equal(systemdUnits({ ...params, idleMinutes: 0 })["archaeo-autostop.timer"], undefined);
            assert.ok(!renderUserData({ ...params, idleMinutes: 0 }).includes("archaeo-autostop.timer"));
            assert.match(systemdUnits({ ...params, idleMinutes: 0, maxSessionHours: 8 })["archaeo-autostop.timer"], /OnUnitActiveSec=5min/);
            const ud = renderUserData({ ...params, maxSessionHours: 12 });
            assert.match(ud, /MAX_SESSION_HOURS=12\n/);
            assert.match(ud, /ARCHAEO_MAX_SESSION_HOURS=12\n/, "the image's extension warns from the same number");
        });

        it("maxSessionHours: 0 or 2-720 whole hours, named in the error", () => {
            for (const bad of [1, 721, 2.5, -1]) {
                assert.throws(() => renderUserData({ ...params, maxSessionHours: bad }), new RegExp(`maxSessionHours ${bad} must be 0 \\(no maximum\\) or a whole number of hours from 2 to 720`));
            }
        });
    });
});

describe("connect commands", () => {
    const base = { id: "alice", instanceId: "i-0abc", region: "us-east-1", ssmPath: "/archaeo/x/s/researchers/alice", bucketName: "b", gpus: 1 } as const;

    it("ssm mode: SSH through an SSM ProxyCommand and a port forward of 8888 only, under the researcher's own profile", () => {
        const c = connectInfo({ ...base, accessMode: "ssm" });
        assert.equal(c.ssh, 'ssh -p 2222 -o ProxyCommand="aws --profile archaeo-alice --region us-east-1 ssm start-session --target %h --document-name AWS-StartSSHSession --parameters portNumber=%p" researcher@i-0abc');
        assert.equal(c.jupyterTunnel, `aws --profile archaeo-alice --region us-east-1 ssm start-session --target i-0abc --document-name AWS-StartPortForwardingSession --parameters '{"portNumber":["8888"],"localPortNumber":["8888"]}'`);
        assert.equal(c.jupyterUrl, "http://localhost:8888/lab");
        assert.equal(c.tensorboardUrl, "http://localhost:8888/tensorboard/", "TensorBoard lives behind Jupyter's token");
        assert.equal(c.start, "aws --profile archaeo-alice --region us-east-1 ec2 start-instances --instance-ids i-0abc");
        assert.ok(!JSON.stringify(c).includes("6006"), "no tunnel to TensorBoard: it is never published");
    });

    it("cidr mode: Jupyter only through ssh -L to the loopback, never on the public address", () => {
        const c = connectInfo({ ...base, accessMode: "cidr" });
        assert.match(c.jupyterTunnel, /^ssh -N -p 2222 -L 8888:127\.0\.0\.1:8888 researcher@\$\(aws --profile archaeo-alice/);
        assert.equal(c.jupyterUrl, "http://localhost:8888/lab");
    });

    it("batch training: one GPU runs archaeo-train, several run it under torchrun (DDP) over every GPU", () => {
        assert.match(connectInfo({ ...base, accessMode: "ssm" }).train, /'nohup archaeo-train --data-dir /);
        assert.match(connectInfo({ ...base, accessMode: "ssm", gpus: 4 }).train, /'nohup torchrun --standalone --nproc-per-node 4 -m archaeo\.train /);
    });
});
