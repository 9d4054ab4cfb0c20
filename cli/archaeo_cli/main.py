"""archaeo: your archaeo-workbench GPU notebook in one command.

  archaeo setup CODE     once: store your workbench (the cliSetup line your engineer sent) and write its AWS profile
  archaeo open           start the workstation, show its boot, open the tunnel and Jupyter in your browser
  archaeo ssh-config     write `Host archaeo-<you>` to ~/.ssh/config: ssh, scp, rsync, VS Code Remote-SSH
  archaeo status         the workstation's state and its boot reports (image, data mounts, GPU smoke test)
  archaeo stop           stop it (your files stay; a stopped workstation costs only its disks)
  archaeo logs [PATH]    follow a background training run's log over SSH (default /workspace/train.log)

Environment: ARCHAEO_HOME (where setup keeps its files), ARCHAEO_SSH_CONFIG (instead of ~/.ssh/config),
ARCHAEO_NO_BROWSER=1 (print the URL only), BROWSER (Python's webbrowser: the browser command, %s for the URL),
ARCHAEO_SSH_ARGS (extra ssh options for `logs`, e.g. -v), ARCHAEO_POLL_SECONDS (how often to look, default 5).
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time

from . import __version__, blocks, facts as factstore
from .awscli import FORWARD_DOCUMENT, Aws, AwsError, Background, aws_executable, explain, require_plugin
from .facts import UserError

# What the workstation reports under <ssmPath>/status/ (infra/instance/files: archaeo-prepare, archaeo-mount,
# archaeo-smoke-report, archaeo-workspace, archaeo-autostop through archaeo-status), in boot order.
STATUS_NAMES = ["workspace", "prepare", "mount-data", "mount-mydata", "smoke", "autostop"]


def say(msg=""):
    print(msg, flush=True)


def poll_seconds():
    try:
        return max(0.01, float(os.environ.get("ARCHAEO_POLL_SECONDS", "5")))
    except ValueError:
        raise UserError("ARCHAEO_POLL_SECONDS must be a number of seconds")


def parse_time(text):
    """An AWS CLI timestamp (ISO 8601, `2026-12-06T10:00:00.123000+00:00` or with Z) as an aware datetime."""
    import datetime

    m = re.match(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:?\d\d)?$", text or "")
    if not m:
        return None
    base = datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S")
    if m.group(2):
        base = base.replace(microsecond=int((m.group(2)[1:] + "000000")[:6]))
    tz = m.group(3) or "Z"
    offset = datetime.timedelta(0) if tz == "Z" else datetime.timedelta(hours=int(tz[1:3]), minutes=int(tz[-2:])) * (1 if tz[0] == "+" else -1)
    return base.replace(tzinfo=datetime.timezone(offset))


def _utc(when):
    import datetime

    return when.astimezone(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M")


def minutes(seconds):
    seconds = int(seconds)
    return "%dm %02ds" % (seconds // 60, seconds % 60) if seconds >= 60 else "%ds" % seconds


class Waiter:
    """Polls until done, printing what changes at once and a 'still ...' line every `every` seconds."""

    def __init__(self, what, timeout, every=30.0):
        self.what, self.timeout, self.every = what, timeout, every
        self.start = time.monotonic()
        self.last_time, self.last_note = self.start, None

    def elapsed(self):
        return time.monotonic() - self.start

    def tick(self, note):
        """One more wait: the note is printed when it changes, and again every `every` seconds."""
        now = time.monotonic()
        if now - self.start > self.timeout:
            raise UserError("%s: gave up after %s (%s). Run archaeo status to see where it stands" % (self.what, minutes(now - self.start), note))
        if note != self.last_note or now - self.last_time >= self.every:
            say("  ... %s (%s so far)" % (note, minutes(now - self.start)))
            self.last_time, self.last_note = now, note
        time.sleep(poll_seconds())


# ---- instance mode ----

# States of a workstation that is still yours to start or stop (EC2 InstanceStateName; not shutting-down/terminated).
LIVE_STATES = ("pending", "running", "stopping", "stopped")


def workbench_tag(f):
    """The stack's `workbench` tag (infra/tags.ts resourcePrefix, archaeo-<institution>-<stack>), read off the SSM
    path the setup code carries (tags.ts ssmPath: /archaeo/<institution>/<stack>/researchers/<id>)."""
    m = re.match(r"^/archaeo/([^/]+)/([^/]+)/researchers/[^/]+$", f.get("ssmPath") or "")
    return "archaeo-%s-%s" % (m.group(1), m.group(2)) if m else None


def find_by_tags(aws, f):
    """The researcher's live workstation by its tags (researcher=<id>, workbench=<stack>): the one a restore, a zone
    move or an auto-stop change put in place of the stored one. The newest if several. DescribeInstances is allowed
    on * for the researcher's role (infra/iam.ts SeeWorkstations)."""
    wb = workbench_tag(f)
    if not wb:
        return None
    out = aws.call("ec2", "describe-instances", "--filters", "Name=tag:researcher,Values=%s" % f["id"], "Name=tag:workbench,Values=%s" % wb,
                   "Name=instance-state-name,Values=%s" % ",".join(LIVE_STATES))
    found = [i for r in out.get("Reservations") or [] for i in r.get("Instances") or [] if (i.get("State") or {}).get("Name") in LIVE_STATES]
    if not found:
        return None
    return max(found, key=lambda i: i.get("LaunchTime") or "")


def adopt(f, inst):
    """Stores the new instance id, and points archaeo's ssh config entry (if any) at it."""
    old, new = f["instanceId"], inst["InstanceId"]
    f["instanceId"] = new
    factstore.save(dict((k, v) for k, v in f.items() if k != "local"), f.get("local") or {})
    say("Your workstation was replaced (a restore, a zone move or a settings change): %s is now %s. archaeo uses the new one from now on." % (old, new))
    path = blocks.default_ssh_config()
    text = blocks.read_file(path)
    updated = blocks.retarget_ssh_block(text, f["id"], new)
    if updated is not None and updated != text:
        blocks.write_file(path, updated)
        say("Updated Host %s in %s (ssh, scp, rsync, VS Code). If you wrote it elsewhere with --config, run  archaeo ssh-config  again." % (blocks.host_alias(f["id"]), path))


def describe(aws, f):
    """The stored workstation; when it is gone (InvalidInstanceID.NotFound, or terminated), the one with its tags."""
    inst, gone = None, None
    try:
        out = aws.call("ec2", "describe-instances", "--instance-ids", f["instanceId"])
        inst = ((out.get("Reservations") or [{}])[0].get("Instances") or [None])[0]
        gone = None if inst else "not found"
    except AwsError as e:
        if e.code != "InvalidInstanceID.NotFound":
            raise
        gone = "not found"
    if inst is not None and inst["State"]["Name"] in ("terminated", "shutting-down"):
        gone = inst["State"]["Name"]
    if gone is None:
        return inst
    new = find_by_tags(aws, f)
    if new is None:
        raise UserError("workstation %s is %s, and no other workstation of yours (tags researcher=%s, workbench=%s) is in %s: it was removed; ask your engineer"
                        % (f["instanceId"], gone, f["id"], workbench_tag(f) or "?", f["region"]))
    adopt(f, new)
    return new


def status_parameter(aws, f, name, decrypt=False):
    """(value, last modified) of <ssmPath>/<name>, or (None, None) when it was never written."""
    args = ["--name", "%s/%s" % (f["ssmPath"], name)] + (["--with-decryption"] if decrypt else [])
    try:
        p = aws.call("ssm", "get-parameter", *args)["Parameter"]
    except AwsError as e:
        if e.code == "ParameterNotFound":
            return None, None
        raise
    return p.get("Value"), parse_time(p.get("LastModifiedDate"))


def wait_running(aws, f, inst, timeout):
    state = inst["State"]["Name"]
    if state == "running":
        return inst
    if state in ("terminated", "shutting-down"):
        raise UserError("workstation %s is %s: it was replaced or removed; ask your engineer for a fresh setup line" % (f["instanceId"], state))
    if state == "stopping":
        say("It is still stopping; it starts again once stopped.")
        w = Waiter("waiting for the workstation to stop", timeout)
        while state == "stopping":
            w.tick("still stopping")
            state = describe(aws, f)["State"]["Name"]
    if state == "stopped":
        aws.call("ec2", "start-instances", "--instance-ids", f["instanceId"])
        say("Starting it: 1-2 minutes to boot, then the workbench image is pulled on the very first start (2-4 minutes more) and Jupyter starts.")
    w = Waiter("waiting for the workstation to run", timeout)
    while True:
        inst = describe(aws, f)
        state = inst["State"]["Name"]
        if state == "running":
            say("  running (%s)" % minutes(w.elapsed()))
            return inst
        if state in ("stopped", "stopping", "terminated", "shutting-down") and w.elapsed() > 3 * poll_seconds():
            reason = (inst.get("StateReason") or {}).get("Message", "")
            raise UserError("the workstation went to '%s' while starting%s. If it says InsufficientInstanceCapacity, AWS has no free GPU of its type in that zone right now: try again in a few minutes, or ask your engineer" % (state, ": " + reason if reason else ""))
        w.tick("instance is %s" % state)


def wait_prepared(aws, f, launched, timeout):
    """Waits for this boot's <ssmPath>/status/prepare: the image is present and the token in place.

    While it works, archaeo-prepare reports "STAGE n/3: ..." there (this boot's image and keys, the image:
    already here or downloading, the token): each new stage is printed as it comes, with the time so far.
    """
    w = Waiter("waiting for the workstation to prepare the image", timeout, every=60.0)
    first = True
    stage = None
    while True:
        value, when = status_parameter(aws, f, "status/prepare")
        this_boot = value is not None and (launched is None or (when is not None and when >= launched))
        if this_boot and value.startswith("FAIL"):
            raise UserError("the workstation could not prepare the workbench: %s\nRun `archaeo status` for every report; your engineer can read `journalctl -u archaeo-prepare` on the host" % value)
        if this_boot and not value.startswith("STAGE"):
            say("Image ready: %s (%s)" % (value.split(" (")[0], minutes(w.elapsed())))
            return
        if first:
            say("Preparing: pulling the workbench image and fetching your token%s." % (" (the first start: 2-4 minutes)" if value is None else ""))
            first = False
        now = value.split(" (")[0] if this_boot else None
        if now and now != stage:
            say("  %s (%s)" % (now, minutes(w.elapsed())))
            stage = now
        w.tick(("still at " + now.split(":")[0].lower()) if now else "still preparing (image pull / token)")


def free_port(preferred, explicit):
    import socket

    def free(p):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind(("127.0.0.1", p))
            return True
        except OSError:
            return False
        finally:
            s.close()

    if explicit:
        if not free(preferred):
            raise UserError("port %d is already in use on this computer (another Jupyter or tunnel?): choose another with --port" % preferred)
        return preferred
    for p in [preferred] + list(range(preferred + 1, preferred + 12)):
        if free(p):
            return p
    raise UserError("ports %d-%d are all in use on this computer: choose one with --port" % (preferred, preferred + 11))


def port_open(port):
    import socket

    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def open_tunnel(aws, f, local, timeout):
    """`aws ssm start-session` to Jupyter's port, retried while the agent is not yet connected (TargetNotConnected)."""
    remote = f["ports"]["jupyter"]
    params = {"portNumber": [str(remote)], "localPortNumber": [str(local)]}
    w = Waiter("waiting for Session Manager to reach the workstation", timeout)
    while True:
        tunnel = Background(aws.session_command(f["instanceId"], FORWARD_DOCUMENT, params))
        while tunnel.alive() and not port_open(local):
            time.sleep(min(0.2, poll_seconds()))
        if tunnel.alive():
            return tunnel
        err = explain(tunnel.stderr(), f, "the tunnel (aws ssm start-session)")
        if err.code != "TargetNotConnected":
            raise err
        w.tick("the workstation's SSM agent is not connected yet; retrying")


def wait_jupyter(port, tunnel, timeout):
    """Jupyter's /api answers without a token and without counting as activity (jupyter_server APIVersionHandler)."""
    import urllib.request  # here, not at the top: it costs a tenth of a second at every start

    w = Waiter("waiting for Jupyter", timeout)
    said = False
    while True:
        if not tunnel.alive():
            raise UserError("the tunnel closed while waiting for Jupyter: %s" % (tunnel.stderr().strip() or "no message"))
        try:
            with urllib.request.urlopen("http://localhost:%d/api" % port, timeout=5) as r:
                if r.status == 200 and "version" in json.loads(r.read().decode("utf-8")):
                    return
        except (OSError, ValueError):
            pass
        if not said:
            say("Waiting for Jupyter to answer...")
            said = True
        w.tick("Jupyter is starting")


def open_browser(args, url):
    """Python's webbrowser (honours BROWSER); skipped with --no-browser or ARCHAEO_NO_BROWSER."""
    if args.no_browser or os.environ.get("ARCHAEO_NO_BROWSER"):
        return
    import webbrowser

    if not webbrowser.open(url):
        say("(no browser could be opened here: copy the address above)")


def open_instance(args, f):
    aws = Aws(f)
    require_plugin()
    timeout = args.timeout * 60
    local = free_port(args.port or f["ports"]["jupyter"], bool(args.port))
    inst = describe(aws, f)
    say("Workstation %s (%s) is %s." % (f["instanceId"], inst.get("InstanceType", "?"), inst["State"]["Name"]))
    inst = wait_running(aws, f, inst, timeout)
    launched = parse_time(inst.get("LaunchTime"))
    wait_prepared(aws, f, launched, timeout)
    token, changed = status_parameter(aws, f, "jupyter-token", decrypt=True)
    if not token:
        raise UserError("your Jupyter token %s/jupyter-token is missing: ask your engineer" % f["ssmPath"])
    if changed is not None and launched is not None and changed > launched:
        # The workstation reads the token at boot (archaeo-prepare): a token changed since (a rotation) is not the
        # one the running Jupyter checks. LaunchTime is the last start's (EC2 DescribeInstances).
        raise UserError("your Jupyter token was changed (%s UTC) after the workstation started (%s UTC): the running Jupyter still has the old one. "
                        "Run  archaeo stop --wait  and then  archaeo open  (your files stay)" % (_utc(changed), _utc(launched)))
    say("Opening the tunnel: localhost:%d -> the workstation's Jupyter (port %d)..." % (local, f["ports"]["jupyter"]))
    tunnel = open_tunnel(aws, f, local, timeout)
    try:
        wait_jupyter(local, tunnel, timeout)
        url = "http://localhost:%d/lab?token=%s" % (local, token)
        say("")
        say("Jupyter:     %s" % url)
        say("TensorBoard: http://localhost:%d/tensorboard/ (same token)" % local)
        say("")
        open_browser(args, url)
        say("Leave this window open: it carries the tunnel. Ctrl-C closes it; the workstation keeps running and")
        say("stops itself after an idle hour (or `archaeo stop`). Your files stay on your workspace volume.")
        while tunnel.alive():
            time.sleep(min(1.0, poll_seconds()))
        raise UserError("the tunnel closed (the workstation stopped, or the network dropped): %s. Run archaeo open again" % (tunnel.stderr().strip().splitlines() or ["no message"])[-1])
    except KeyboardInterrupt:
        say("\nClosing the tunnel; the workstation keeps running (archaeo stop stops it).")
        return 0
    finally:
        tunnel.stop()


def status_instance(f):
    import datetime

    aws = Aws(f)
    inst = describe(aws, f)
    state = inst["State"]["Name"]
    launched = parse_time(inst.get("LaunchTime"))
    since = ""
    if state == "running" and launched:
        since = " since %s UTC (%s)" % (launched.astimezone(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M"),
                                       minutes(max(0, (datetime.datetime.now(datetime.timezone.utc) - launched).total_seconds())))
    say("Workstation %s (%s): %s%s" % (f["instanceId"], inst.get("InstanceType", "?"), state, since))
    say("Boot reports (%s/status/...):" % f["ssmPath"])
    for name in STATUS_NAMES:
        value, when = status_parameter(aws, f, "status/%s" % name)
        if value is None:
            continue
        this_boot = state in ("pending", "running") and launched is not None and when is not None and when >= launched
        first = value.splitlines()[0] if value else ""
        say("  %-13s %s%s" % (name, first, "" if this_boot else "  [an earlier boot]"))
    say("Your data: s3://%s/%s (/mydata on the workstation); the institution's: /data" % (f["bucket"], f["dataPrefix"]))
    if state == "running":
        say("Open it: archaeo open")
    elif state == "stopped":
        say("Start it and open Jupyter: archaeo open")
    return 0


def stop_instance(args, f):
    aws = Aws(f)
    describe(aws, f)
    out = aws.call("ec2", "stop-instances", "--instance-ids", f["instanceId"])
    change = (out.get("StoppingInstances") or [{}])[0]
    before = (change.get("PreviousState") or {}).get("Name", "?")
    now = (change.get("CurrentState") or {}).get("Name", "?")
    say("Workstation %s: %s -> %s. Your files stay on your workspace volume; `archaeo open` starts it again." % (f["instanceId"], before, now))
    if args.wait and now != "stopped":
        w = Waiter("waiting for the workstation to stop", args.timeout * 60)
        while True:
            state = describe(aws, f)["State"]["Name"]
            if state == "stopped":
                say("Stopped (%s)." % minutes(w.elapsed()))
                return 0
            w.tick("still %s" % state)
    return 0


# ---- cluster mode ----

def kubectl():
    exe = shutil.which("kubectl")
    if not exe:
        raise UserError("kubectl is not installed, or not on PATH: https://kubernetes.io/docs/tasks/tools/ (cluster mode needs it)")
    return exe


def open_cluster(args, f):
    aws = Aws(f)
    say("Cluster %s: writing the kubeconfig context %s..." % (f["clusterName"], f["profile"]))
    aws.run("eks", "update-kubeconfig", "--name", f["clusterName"], "--alias", f["profile"])
    tunnel = f.get("hubTunnel")
    if not tunnel:
        url = "%s/hub/spawn" % f["hubUrl"].rstrip("/")
        say("JupyterHub: %s (sign in; your server starts on a GPU node, a few minutes the first time)" % url)
        open_browser(args, url)
        return 0
    local = free_port(args.port or tunnel["localPort"], bool(args.port))
    cmd = [kubectl(), "--context", f["profile"], "-n", f["hubNamespace"], "port-forward", "pod/%s" % tunnel["pod"], "%d:%d" % (local, tunnel["port"])]
    fwd = Background(cmd)
    try:
        w = Waiter("waiting for kubectl port-forward", args.timeout * 60)
        while not port_open(local):
            if not fwd.alive():
                raise UserError("kubectl port-forward failed: %s" % (fwd.stderr().strip() or "no message"))
            w.tick("port-forward starting")
        url = "http://localhost:%d/hub/spawn" % local
        say("JupyterHub: %s (sign in; your server starts on a GPU node, a few minutes the first time)" % url)
        open_browser(args, url)
        say("Leave this window open: it carries the tunnel. Ctrl-C closes it.")
        while fwd.alive():
            time.sleep(min(1.0, poll_seconds()))
        raise UserError("kubectl port-forward ended: %s" % (fwd.stderr().strip() or "no message"))
    except KeyboardInterrupt:
        say("\nClosing the tunnel.")
        return 0
    finally:
        fwd.stop()


def status_cluster(f):
    r = subprocess.run([kubectl(), "--context", f["profile"], "-n", f["hubNamespace"], "get", "pod", f["serverPod"], "-o", "jsonpath={.status.phase}"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    if r.returncode == 0:
        say("Your server %s: %s" % (f["serverPod"], r.stdout.strip() or "?"))
    elif "NotFound" in r.stderr:
        say("Your server %s is not running: archaeo open, then Start My Server" % f["serverPod"])
    else:
        raise UserError("kubectl could not read your server: %s (run archaeo open once to write the kubeconfig context)" % r.stderr.strip())
    return 0


# ---- commands ----

def cmd_setup(args):
    f = factstore.decode(args.code if args.code != "-" else sys.stdin.read())
    local = {}
    if not args.no_aws_profile:
        path = args.aws_config or blocks.default_aws_config()
        text = blocks.read_file(path)
        # A [profile archaeo-<id>] of yours outside archaeo's block would be a second section of that name: the
        # AWS CLI (botocore's configparser) refuses the whole file then.
        outside = [n for name, n, _ in blocks.aws_sections(blocks.without_block(text, "setup", f["id"])) if name == "profile %s" % f["profile"]]
        if outside:
            raise UserError("%s already has a [profile %s] that archaeo did not write: delete that section (archaeo writes it), or keep yours with --no-aws-profile" % (path, f["profile"]))
        source = args.source_profile
        if not source:
            sso = blocks.sign_in_profiles(text, f["profile"])
            if len(sso) == 1:
                source = sso[0]
                say("Signing in through your Identity Center profile '%s' (change it with --source-profile)." % source)
            elif len(sso) > 1:
                raise UserError("which profile do you sign in with? %s has several: %s. Say which: archaeo setup ... --source-profile NAME" % (path, ", ".join(sso)))
            elif "default" in blocks.profile_names(text):
                source = "default"
                say("Signing in through your 'default' profile (change it with --source-profile).")
            else:
                raise UserError("no profile to sign in with in %s: create one with  aws configure sso  (your institution's start URL), then run this again with --source-profile NAME" % path)
        elif source not in blocks.profile_names(text):
            raise UserError("%s has no profile '%s' to sign in with (it has: %s): create it with  aws configure sso --profile %s" % (path, source, ", ".join(blocks.profile_names(text)) or "none", source))
        blocks.write_file(path, blocks.replace_block(text, "setup", f["id"], blocks.profile_block(f, source), at_top=False))
        local["sourceProfile"] = source
        say("Wrote [profile %s] to %s." % (f["profile"], path))
    saved = factstore.save(f, local)
    say("Saved your workbench (%s, %s, %s) to %s." % (f["id"], f["mode"], f.get("instanceId") or f.get("clusterName"), saved))
    say("Next: archaeo open" + ("   (and archaeo ssh-config for ssh, scp, rsync, VS Code)" if f["mode"] == "instance" else ""))
    return 0


def cmd_open(args):
    f = factstore.load(args.id)
    return open_instance(args, f) if f["mode"] == "instance" else open_cluster(args, f)


def cmd_status(args):
    f = factstore.load(args.id)
    return status_instance(f) if f["mode"] == "instance" else status_cluster(f)


def cmd_stop(args):
    f = factstore.load(args.id)
    if f["mode"] == "cluster":
        url = "%s/hub/home" % (f["hubUrl"].rstrip("/") if not f.get("hubTunnel") else "http://localhost:%d" % f["hubTunnel"]["localPort"])
        say("Stop your server from the hub: %s -> Stop My Server (it is also stopped after the idle time)." % url)
        return 0
    return stop_instance(args, f)


def cmd_ssh_config(args):
    f = factstore.load(args.id)
    if f["mode"] != "instance":
        raise UserError("cluster mode: SSH goes through kubectl port-forward to your server (the connect.ssh line your engineer sent); ssh-config is for instance mode")
    exe = aws_executable()
    path = args.config or blocks.default_ssh_config()
    text = blocks.read_file(path)
    if args.identity_file and not os.path.exists(os.path.expanduser(args.identity_file)):
        raise UserError("--identity-file %s does not exist: give the private key whose .pub your engineer put in the stack" % args.identity_file)
    new = blocks.replace_block(text, "ssh-config", f["id"], blocks.ssh_block(f, exe, args.identity_file), at_top=True)
    blocks.write_file(path, new)
    alias = blocks.host_alias(f["id"])
    say("Wrote Host %s to %s." % (alias, path))
    for n in blocks.foreign_hosts(new, f["id"]):
        say("Note: your own `Host %s` at line %d comes after archaeo's block and no longer takes effect: delete it." % (alias, n))
    say("Now: ssh %s | scp FILE %s:/workspace/ | rsync -av DIR/ %s:/workspace/DIR/ | VS Code: Remote-SSH: Connect to Host... %s" % (alias, alias, alias, alias))
    say("The workstation must be running (archaeo open or archaeo status).")
    return 0


def cmd_logs(args):
    f = factstore.load(args.id)
    if f["mode"] != "instance":
        raise UserError("cluster mode: follow a job with kubectl logs -f (the connect.ddp line your engineer sent)")
    path = args.config or blocks.default_ssh_config()
    alias = blocks.host_alias(f["id"])
    if "archaeo-workbench %s: ssh-config" % f["id"] not in blocks.read_file(path):
        raise UserError("%s has no Host %s yet: run  archaeo ssh-config  first" % (path, alias))
    import shlex

    log = args.path or f["trainLog"]
    remote = "tail -n %d %s-- %s" % (args.lines, "" if args.no_follow else "-F ", shlex.quote(log))
    ssh = shutil.which("ssh")
    if not ssh:
        raise UserError("ssh is not installed, or not on PATH (Windows: Settings > Optional features > OpenSSH Client)")
    cmd = [ssh] + (["-F", path] if args.config or os.environ.get("ARCHAEO_SSH_CONFIG") else []) + shlex.split(os.environ.get("ARCHAEO_SSH_ARGS", "")) + [alias, remote]
    if not args.no_follow:
        say("Following %s on %s (Ctrl-C stops following; the run goes on)." % (log, alias))
    try:
        return subprocess.call(cmd)
    except KeyboardInterrupt:
        return 0


def parser():
    p = argparse.ArgumentParser(prog="archaeo", description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version="archaeo %s" % __version__)
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    s = sub.add_parser("setup", help="store your workbench from the line your engineer sent, and write its AWS profile")
    s.add_argument("code", help="the setup code (archaeo1....), or - to read it from stdin")
    s.add_argument("--source-profile", help="the AWS profile you sign in with (default: your only Identity Center profile, else 'default')")
    s.add_argument("--aws-config", help="the AWS config file to write (default: $AWS_CONFIG_FILE or ~/.aws/config)")
    s.add_argument("--no-aws-profile", action="store_true", help="do not write the AWS profile (you keep your own)")
    s.set_defaults(run=cmd_setup)

    def common(sp):
        sp.add_argument("--id", help="which workbench, when you have set up several")

    o = sub.add_parser("open", help="start the workstation, wait for it, open Jupyter in the browser")
    common(o)
    o.add_argument("--port", type=int, help="local port for the tunnel (default 8888, or the next free one)")
    o.add_argument("--no-browser", action="store_true", help="print the address only")
    o.add_argument("--timeout", type=float, default=30, help="minutes to wait for each step (default 30)")
    o.set_defaults(run=cmd_open)

    st = sub.add_parser("status", help="the workstation's state and boot reports")
    common(st)
    st.set_defaults(run=cmd_status)

    sp = sub.add_parser("stop", help="stop the workstation (files stay)")
    common(sp)
    sp.add_argument("--wait", action="store_true", help="wait until it has stopped")
    sp.add_argument("--timeout", type=float, default=10, help="minutes to wait with --wait (default 10)")
    sp.set_defaults(run=cmd_stop)

    c = sub.add_parser("ssh-config", help="write Host archaeo-<you> for ssh, scp, rsync and VS Code")
    common(c)
    c.add_argument("--identity-file", help="your private key, when it is not one ssh tries by default (~/.ssh/id_ed25519...)")
    c.add_argument("--config", help="the ssh config file (default: $ARCHAEO_SSH_CONFIG or ~/.ssh/config)")
    c.set_defaults(run=cmd_ssh_config)

    lg = sub.add_parser("logs", help="follow a background run's log over SSH")
    common(lg)
    lg.add_argument("path", nargs="?", help="the log on the workstation (default /workspace/train.log)")
    lg.add_argument("-n", "--lines", type=int, default=50, help="lines of history to show first (default 50)")
    lg.add_argument("--no-follow", action="store_true", help="print the last lines and return")
    lg.add_argument("--config", help="the ssh config file ssh-config wrote (default: $ARCHAEO_SSH_CONFIG or ~/.ssh/config)")
    lg.set_defaults(run=cmd_logs)
    return p


def main(argv=None):
    p = parser()
    args = p.parse_args(argv)
    if not getattr(args, "run", None):
        p.print_help()
        return 2
    try:
        return args.run(args)
    except UserError as e:
        print("archaeo: %s" % e, file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:
        return 130
