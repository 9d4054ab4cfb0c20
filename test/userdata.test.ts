import { strict as assert } from "assert";
import * as YAML from "yaml";
import { renderUserData, shmSize, systemdUnits, SCRIPT_NAMES, UserDataParams } from "../infra/workstation/userdata";
import { connectInfo } from "../infra/workstation/connect";
import { secretLikeMatches } from "../policies/lib/secret-scan";
import { cloudInitSchema, shellcheck, tmpFile } from "./helpers/tools";

const params: UserDataParams = {
    region: "eu-west-2",
    imageRef: "123456789012.dkr.ecr.eu-west-2.amazonaws.com/archaeo/x/pytorch-cuda@sha256:" + "b".repeat(64),
    workspaceVolumeId: "vol-0123456789abcdef0",
    ssmPath: "/archaeo/x/prod",
    accessMode: "ssm",
    sshPublicKeys: ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDXGaKRpRrSjE+CE3c7Xrij0WQHqtf6/5mjNpauIw/Gy a@b"],
    memoryGiB: 32,
    idleMinutes: 45,
    gpuIdlePercent: 7,
};

describe("workstation user data", () => {
    const ud = renderUserData(params);
    const docObj = YAML.parse(ud);
    const files: Record<string, string> = Object.fromEntries(docObj.write_files.map((f: any) => [f.path, f.content]));

    it("passes cloud-init's own schema check", () => {
        const r = cloudInitSchema(tmpFile("user-data.yaml", ud));
        assert.equal(r.status, 0, r.output);
        assert.match(r.output, /Valid schema|Valid cloud-config/);
    });

    it("the schema check is live: a type error in cloud-config is refused", () => {
        const broken = ud.replace("runcmd:", "runcmd: 42\nbootcmd_unused:");
        const r = cloudInitSchema(tmpFile("broken.yaml", "#cloud-config\nwrite_files: 7\n" + broken.split("\n").slice(1).join("\n").replace(/^write_files:/m, "write_files_x:")));
        assert.notEqual(r.status, 0, "cloud-init schema should reject write_files: 7");
    });

    it("fits EC2's 16 KB user-data limit", () => {
        assert.ok(Buffer.byteLength(ud) < 16384, `${Buffer.byteLength(ud)} bytes`);
    });

    it("every embedded script passes shellcheck as rendered", () => {
        for (const name of SCRIPT_NAMES) {
            const content = files[`/usr/local/sbin/${name}`];
            assert.ok(content, `${name} missing from user data`);
            const r = shellcheck(tmpFile(name, content));
            assert.equal(r.status, 0, `${name}:\n${r.output}`);
        }
    });

    it("shellcheck is live: it flags an unquoted expansion", () => {
        const r = shellcheck(tmpFile("bad.sh", "#!/usr/bin/env bash\nrm -rf $1/*\n"));
        assert.notEqual(r.status, 0);
    });

    it("carries settings, keys and the image by digest, and no secret", () => {
        const env = files["/etc/archaeo/workbench.env"];
        assert.match(env, /^IMAGE_REF=\S+@sha256:[0-9a-f]{64}$/m);
        assert.match(env, /^WORKSPACE_VOLUME_ID=vol-0123456789abcdef0$/m);
        assert.match(env, /^SHM_SIZE=8g$/m);
        assert.match(env, /^IDLE_MINUTES=45$/m);
        assert.match(env, /^GPU_IDLE_PERCENT=7$/m);
        assert.match(env, /^BIND_ADDRESS=127\.0\.0\.1$/m);
        assert.equal(files["/etc/archaeo/authorized_keys"], params.sshPublicKeys.join("\n") + "\n");
        assert.deepEqual(secretLikeMatches(ud), []);
        assert.equal(secretLikeMatches(ud.replace("RESEARCHER_UID=1000", "JUPYTER_TOKEN=abcdefghijklmnopqrstuvwxyz012345")).length, 1, "the scan is live");
        assert.doesNotMatch(ud, /JUPYTER_TOKEN=/);
    });

    it("runs Jupyter, SSH and TensorBoard from the image as non-root services, with GPUs and a large /dev/shm", () => {
        for (const [role, port] of [["jupyter", 8888], ["sshd", 2222], ["tensorboard", 6006]] as const) {
            const unit = files[`/etc/systemd/system/archaeo-${role}.service`];
            assert.ok(unit, role);
            assert.match(unit, /--user 1000:1000/);
            assert.match(unit, /--shm-size \$\{SHM_SIZE\}/);
            assert.match(unit, /--cap-drop ALL --security-opt no-new-privileges/);
            assert.ok(unit.includes(`-p \${BIND_ADDRESS}:${port}:${port}`), `${role} publishes ${port} on BIND_ADDRESS`);
            assert.match(unit, new RegExp(`\\$\\{IMAGE_REF\\} ${role}$`, "m"));
            assert.match(unit, /Requires=archaeo-workspace.service archaeo-prepare.service/);
            assert.doesNotMatch(unit, /--privileged/);
            if (role !== "tensorboard") assert.match(unit, /--gpus all/);
        }
        assert.match(files["/etc/systemd/system/archaeo-jupyter.service"], /JUPYTER_TOKEN_FILE=\/run\/secrets\/jupyter-token/);
        assert.match(files["/usr/local/sbin/archaeo-prepare"], /--with-decryption/);
    });

    it("mounts the workspace by volume id and formats only an empty device", () => {
        const s = files["/usr/local/sbin/archaeo-workspace"];
        assert.match(s, /nvme-Amazon_Elastic_Block_Store_\$\{serial\}/);
        assert.match(s, /if \[ -z "\$fstype" \]/);
        assert.match(s, /if \[ "\$rc" -ne 2 \]/);
        assert.ok(s.indexOf("mountpoint -q /workspace") < s.indexOf("mkfs.ext4"), "checks the mount before formatting");
    });

    it("auto-stop: a 5-minute timer checking Jupyter, SSH sessions and GPU utilisation; disabled at 0", () => {
        const units = systemdUnits(params);
        assert.match(units["archaeo-autostop.timer"], /OnUnitActiveSec=5min/);
        const s = files["/usr/local/sbin/archaeo-autostop"];
        for (const check of ["/api/status", "sport = :2222", "nvidia-smi --query-gpu=utilization.gpu", "systemctl poweroff"]) assert.ok(s.includes(check), check);
        assert.ok(docObj.runcmd[1].includes("archaeo-autostop.timer"));
        const off = systemdUnits({ idleMinutes: 0 });
        assert.equal(off["archaeo-autostop.timer"], undefined);
        assert.ok(!renderUserData({ ...params, idleMinutes: 0 }).includes("archaeo-autostop.timer"));
    });

    it("cidr mode binds to all interfaces", () => {
        assert.match(renderUserData({ ...params, accessMode: "cidr" }), /BIND_ADDRESS=0\.0\.0\.0/);
    });

    it("sizes /dev/shm to a quarter of memory, at least 2 GiB", () => {
        assert.deepEqual([shmSize(4), shmSize(16), shmSize(192)], ["2g", "4g", "48g"]);
    });
});

describe("connect commands", () => {
    it("ssm mode: SSH through an SSM ProxyCommand and port forwarding of 8888 and 6006", () => {
        const c = connectInfo({ instanceId: "i-0abc", region: "us-east-1", accessMode: "ssm" });
        assert.equal(c.ssh, 'ssh -p 2222 -o ProxyCommand="aws ssm start-session --region us-east-1 --target %h --document-name AWS-StartSSHSession --parameters portNumber=%p" researcher@i-0abc');
        assert.equal(c.jupyterTunnel, `aws ssm start-session --region us-east-1 --target i-0abc --document-name AWS-StartPortForwardingSession --parameters '{"portNumber":["8888"],"localPortNumber":["8888"]}'`);
        assert.match(c.tensorboardTunnel, /"portNumber":\["6006"\]/);
        assert.equal(c.jupyterUrl, "http://localhost:8888/lab");
        assert.equal(c.start, "aws ec2 start-instances --region us-east-1 --instance-ids i-0abc");
    });

    it("cidr mode: direct SSH and URLs on the public address", () => {
        const c = connectInfo({ instanceId: "i-0abc", region: "eu-west-2", accessMode: "cidr", publicIp: "198.51.100.7" });
        assert.equal(c.ssh, "ssh -p 2222 researcher@198.51.100.7");
        assert.equal(c.tensorboardUrl, "http://198.51.100.7:6006/");
    });
});
