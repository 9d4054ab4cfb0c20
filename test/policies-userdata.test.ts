/**
 * The pack's user-data reader (policies/lib/userdata.ts): what it decodes from `userDataBase64` is
 * what cloud-init itself gets (Debian's cloud-init, the real decompressor), in both forms (gzip and
 * plain base64) and for what the program renders; `docker run` lines are parsed as docker's CLI does.
 */
import { strict as assert } from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as zlib from "zlib";
import { decodeBase64UserData, dockerRunImage, dockerRuns, parseDockerRun, readableUserData, shellWords } from "../policies/lib/userdata";
import { containerProblems } from "../policies/rules/ec2";
import { decodeUserDataBase64 } from "../infra/instance/userdata";
import { BOB_USER_DATA, gzipBase64 } from "./helpers/fixtures";
import { runStack } from "./helpers/program";
import { PYTHON, tmpFile } from "./helpers/tools";

/**
 * The bytes cloud-init runs for raw user data: cloudinit/user_data.py `convert_string` inflates with
 * util.decomp_gzip(data, decode=False) before looking at the content (cloud-init 22.4.2, Debian 12).
 */
function cloudInitText(raw: Buffer): string {
    const file = tmpFile("user-data.bin", "");
    fs.writeFileSync(file, raw);
    const r = spawnSync(PYTHON, ["-c", "import sys\nfrom cloudinit import util\nsys.stdout.buffer.write(util.decomp_gzip(open(sys.argv[1], 'rb').read(), decode=False))", file], { encoding: "buffer" });
    assert.equal(r.status, 0, `cloud-init's decomp_gzip failed (install Debian package cloud-init): ${r.stderr?.toString()}`);
    return r.stdout.toString("utf8");
}

/**
 * What cloud-init itself runs and writes for a cloud-config: its YAML loader (util.load_yaml, PyYAML
 * safe_load: aliases resolved), bootcmd/runcmd items, and each write_files entry decoded by
 * cc_write_files.extract_contents(canonicalize_extraction(encoding)) (Debian cloud-init 22.4.2).
 */
function cloudInitView(text: string): { commands: unknown[]; files: string[] } {
    const file = tmpFile("cloud-config.yaml", text);
    const py = [
        "import sys, json",
        "from cloudinit import util",
        "from cloudinit.config import cc_write_files as w",
        "cfg = util.load_yaml(open(sys.argv[1]).read())",
        "cmds = list(cfg.get('bootcmd') or []) + list(cfg.get('runcmd') or [])",
        "files = [w.extract_contents(f.get('content', ''), w.canonicalize_extraction(f.get('encoding'))) for f in cfg.get('write_files') or []]",
        "print(json.dumps({'commands': cmds, 'files': [x.decode() if isinstance(x, bytes) else x for x in files]}))",
    ].join("\n");
    const r = spawnSync(PYTHON, ["-c", py, file], { encoding: "utf8" });
    assert.equal(r.status, 0, `cloud-init's loader failed (install Debian package cloud-init): ${r.stderr}`);
    return JSON.parse(r.stdout);
}

describe("policy pack: cloud-config read as cloud-init runs it (encoded files, aliases, unreadable forms)", () => {
    const dropIn = "[Service]\nExecStart=\nExecStart=/usr/bin/docker run --rm --privileged -v /:/host img\n";
    const config = [
        "#cloud-config",
        "x-run: &run [docker, run, -d, --privileged, -v, \"/:/host\", img, tensorboard]",
        "runcmd:",
        "  - *run",
        "write_files:",
        `  - {path: /etc/a.conf, encoding: b64, content: ${Buffer.from(dropIn).toString("base64")}}`,
        `  - {path: /etc/b.conf, encoding: GZ+B64, content: ${zlib.gzipSync(dropIn).toString("base64")}}`,
        `  - {path: /etc/c.conf, encoding: base64, content: ${Buffer.from("plain").toString("base64")}}`,
        "",
    ].join("\n");

    it("decodes every write_files encoding and resolves aliases exactly as cloud-init does, so each container start is scanned", () => {
        const ci = cloudInitView(config);
        const got = readableUserData(config);
        assert.ok("text" in got, JSON.stringify(got));
        for (const f of ci.files) assert.ok(got.text.includes(f), `cloud-init writes ${JSON.stringify(f)}, and the pack reads it`);
        assert.deepEqual(ci.commands, [["docker", "run", "-d", "--privileged", "-v", "/:/host", "img", "tensorboard"]]);
        const runs = dockerRuns(got.text).map((l) => parseDockerRun(l, false)!);
        assert.equal(runs.filter((r) => r.options.some((o) => o.name === "--privileged")).length, 3, "the aliased runcmd item and both encoded drop-ins");
        // Without the reader, a line scan of the raw text sees none of them.
        assert.equal(dockerRuns(config).filter((l) => /privileged/.test(l)).length, 0);
    });

    it("refuses what it cannot read, naming it: multi-part, #include, Jinja, invalid YAML, a downloaded or unknown-encoded file", () => {
        const cases: Array<[string, RegExp]> = [
            ["Content-Type: multipart/mixed; boundary=x\nMIME-Version: 1.0\n", /MIME multi-part/],
            ["#include\nhttps://example.org/more\n", /#include/],
            ["## template: jinja\n#cloud-config\nruncmd: ['{{ v1.local_hostname }}']\n", /template/],
            ["#cloud-config\nruncmd: [\n", /not valid cloud-config YAML/],
            ["#cloud-config-archive\n- type: text/x-shellscript\n  content: !!binary |\n    ZG9ja2VyIHJ1biAtLXByaXZpbGVnZWQgaW1n\n", /#cloud-config-archive/],
            ["#cloud-config-jsonp\n[{ \"op\": \"add\", \"path\": \"/runcmd\", \"value\": [] }]\n", /jsonp/],
            ["#part-handler\ndef handle_part(*args): pass\n", /part-handler/],
            ["#cloud-config\nwrite_files:\n  - path: /x\n    source: {uri: 'https://example.org/x'}\n", /downloads at boot/],
            ["#cloud-config\nwrite_files:\n  - path: /x\n    encoding: bz2\n    content: QlpoOTFBWSZTWQ==\n", /encoding 'bz2'/],
            ["#cloud-config\nwrite_files:\n  - path: /x\n    encoding: gzip\n    content: not gzip\n", /does not decode/],
        ];
        for (const [text, why] of cases) {
            const r = readableUserData(text);
            assert.ok("error" in r, text);
            assert.match(r.error, why);
        }
        // Shell scripts and plain cloud-config pass through as text.
        assert.deepEqual(readableUserData("#!/bin/sh\necho hi\n"), { text: "#!/bin/sh\necho hi\n" });
    });

    it("the program's own user data reads without error, and decoding it finds exactly the container starts a line scan finds", async () => {
        for (const stack of ["example", "uni-archaeology", "city-museum", "national-heritage"]) {
            for (const r of (await runStack(stack)).resources.filter((x) => x.type === "aws:ec2/instance:Instance" || x.type === "aws:ec2/launchTemplate:LaunchTemplate")) {
                const props: any = r.inputs;
                const raw = props.userDataBase64 ? decodeBase64UserData(props.userDataBase64) : props.userData ? (r.type.endsWith("LaunchTemplate") ? decodeBase64UserData(props.userData) : { text: props.userData }) : undefined;
                if (!raw || !("text" in raw)) continue;
                const got = readableUserData(raw.text);
                assert.ok("text" in got, `${stack} ${r.name}: ${JSON.stringify(got)}`);
                const starts = (t: string) => [...new Set(dockerRuns(t).map((l) => JSON.stringify(parseDockerRun(l, false))))].sort();
                assert.deepEqual(starts(got.text), starts(raw.text), `${stack} ${r.name}: the same container starts, decoded or not`);
            }
        }
    });
});

describe("policy pack: user data as cloud-init sees it", () => {
    it("gzip and plain base64 decode to the text cloud-init runs; anything else is an error, never a pass", () => {
        for (const b64 of [gzipBase64(BOB_USER_DATA), Buffer.from(BOB_USER_DATA).toString("base64")]) {
            const got = decodeBase64UserData(b64);
            assert.ok("text" in got, JSON.stringify(got));
            assert.equal(got.text, cloudInitText(Buffer.from(b64, "base64")));
            assert.equal(got.text, BOB_USER_DATA);
        }
        assert.deepEqual(decodeBase64UserData("#cloud-config: not base64!"), { error: "is not valid base64" });
        const broken = decodeBase64UserData(Buffer.from([0x1f, 0x8b, 0x08, 0x00, 1, 2, 3, 4]).toString("base64"));
        assert.ok("error" in broken && /starts with the gzip magic but does not inflate/.test(broken.error));
        // Line-wrapped base64 (as `base64` prints it) is still base64.
        const wrapped = gzipBase64(BOB_USER_DATA).replace(/(.{76})/g, "$1\n");
        assert.deepEqual(decodeBase64UserData(wrapped), { text: BOB_USER_DATA });
    });

    it("reads the program's userDataBase64 exactly as infra/instance/userdata.ts and cloud-init do, and finds its three containers", async () => {
        const ws = (await runStack("example")).resources.find((r) => r.type === "aws:ec2/instance:Instance")!;
        const b64: string = ws.inputs.userDataBase64;
        assert.equal(ws.inputs.userData, undefined);
        const raw = Buffer.from(b64, "base64");
        assert.deepEqual([...raw.subarray(0, 2)], [0x1f, 0x8b], "the program gzips its user data");
        const got = decodeBase64UserData(b64);
        assert.ok("text" in got);
        assert.equal(got.text, decodeUserDataBase64(b64));
        assert.equal(got.text, cloudInitText(raw));
        assert.equal(zlib.gunzipSync(raw).toString("utf8"), got.text);
        const runs = dockerRuns(got.text);
        assert.deepEqual(runs.map((l) => /--name (\S+)/.exec(l)?.[1]), ["archaeo-jupyter", "archaeo-sshd", "archaeo-smoke"]);
        assert.deepEqual(runs.map(dockerRunImage), ["${IMAGE_REF}", "${IMAGE_REF}", "${IMAGE_REF}"], "every unit runs the image the env file pins");
        assert.ok(runs.every((l) => /--user 1000:1000/.test(l) && !/--privileged/.test(l)));
    });

    it("finds the image of a docker run the way docker's CLI parses options", () => {
        // docker/cli cli/command/container/opts.go (commit 143a7abe) and run.go: BoolVar flags take no value, all others one.
        const cases: Array<[string, string | undefined]> = [
            ["docker run --rm -it -e A=b -v /x:/y --name n img:1 cmd --flag", "img:1"],
            ["docker run -dit --privileged --user 0 repo@sha256:abc", "repo@sha256:abc"],
            ["docker run --network=host --read-only --init --gpus all -p 1:1 registry/x", "registry/x"],
            ["/usr/local/sbin/report /usr/bin/docker run --rm --security-opt no-new-privileges \"$IMAGE_REF\" smoke", "$IMAGE_REF"],
            ["docker run --rm --name only-options", undefined],
        ];
        for (const [line, image] of cases) assert.equal(dockerRunImage(line), image, line);
    });

    it("parses docker run options as docker's CLI does: last --user wins, shorthands, aliases, quotes, other spellings of run", () => {
        const opt = (line: string, name: string) => parseDockerRun(line)!.options.filter((o) => o.name === name).map((o) => o.value);
        // spf13/pflag string flags keep the last value given; -u is --user's shorthand, with the value attached or not.
        assert.deepEqual(opt("docker run --user 1000:1000 --user 0 img", "--user"), ["1000:1000", "0"]);
        assert.deepEqual(opt("docker run --user 1000 -u0 img", "--user"), ["1000", "0"]);
        assert.deepEqual(opt("docker run -itu 0 img", "--user"), ["0"]);
        assert.deepEqual(opt("docker run '--user=root' img", "--user"), ["root"]);
        assert.deepEqual(opt("docker run --net host img", "--network"), ["host"]);
        assert.deepEqual(opt('docker run --mount "type=bind,source=/run,target=/r" img', "--mount"), ["type=bind,source=/run,target=/r"]);
        assert.equal(parseDockerRun("docker container run --rm img cmd")!.image, "img");
        assert.equal(parseDockerRun("docker --context prod run img")!.image, "img");
        assert.equal(parseDockerRun("sh -c 'docker run --privileged img'")!.options[0].name, "--privileged");
        assert.deepEqual(shellWords('  - [docker, run, --user, "1000:1000", img]'), ["docker", "run", "--user", "1000:1000", "img"]);
        assert.equal(parseDockerRun("ExecStartPre=-/usr/bin/docker rm -f archaeo-jupyter"), undefined);
        assert.equal(parseDockerRun("Requires=docker.service"), undefined);
    });

    it("the program's three containers use nothing ec2-containers-unprivileged refuses (GPUs, limits, its own binds, another container's namespaces)", async () => {
        for (const stack of ["example", "city-museum"]) {
            const ws = (await runStack(stack)).resources.find((r) => r.type === "aws:ec2/instance:Instance")!;
            const got = decodeBase64UserData(ws.inputs.userDataBase64);
            assert.ok("text" in got);
            const runs = dockerRuns(got.text);
            assert.equal(runs.length, 3);
            for (const line of runs) assert.deepEqual(containerProblems(parseDockerRun(line)!, { allowedBindSources: ["/workspace", "/data", "/mydata", "/run/archaeo", "/etc/archaeo"] }), [], line);
            // The SSH container joins Jupyter's network and PID namespaces (container:archaeo-jupyter), never the host's.
            assert.ok(runs.some((l) => /--network container:archaeo-jupyter --pid container:archaeo-jupyter/.test(l)));
        }
        const bad = (extra: string) => containerProblems(parseDockerRun(`docker run --user 1000:1000 ${extra} img`)!, { allowedBindSources: ["/workspace"] });
        for (const extra of ["--user 0", "--privileged", "--cap-add NET_ADMIN", "--pid host", "--ipc host", "--network host", "--uts host", "--userns host", "--cgroupns host", "--device /dev/sda",
            "--security-opt seccomp=unconfined", "--security-opt seccomp:unconfined", "--security-opt apparmor=unconfined", "--security-opt label=disable", "--security-opt systempaths=unconfined",
            "-v /var/run/docker.sock:/s", "-v /run:/r", "-v /var/run/../run/docker.sock:/s", "--mount type=bind,src=/,dst=/h", "-v /etc:/e:ro", "-v /workspace/../root:/r"]) assert.equal(bad(extra).length, 1, extra);
        for (const extra of ["--privileged=false", "--pid container:x", "--network container:x", "-v named:/x", "--mount type=volume,src=v,dst=/x", "-v /workspace/a:/a:rslave", "--security-opt no-new-privileges", "--gpus all"]) assert.deepEqual(bad(extra), [], extra);
    });
});
