"""Runs the AWS CLI v2 as your workbench profile, and turns its failures into what to do about them.

Every call is `aws --profile archaeo-<you> --region <region> <service> <operation> ... --output json`; the
answer is parsed here rather than with --query so recorded responses (botocore's output shapes) drive the tests.
"""
import json
import os
import re
import shutil
import subprocess
import sys

from .facts import UserError

INSTALL_CLI = "https://docs.aws.amazon.com/cli/latest/userguide/getting-started-install.html"
INSTALL_PLUGIN = "https://docs.aws.amazon.com/systems-manager/latest/userguide/session-manager-working-with-install-plugin.html"
# The AWS documents a researcher's role may open sessions with (infra/iam.ts SESSION_DOCUMENTS).
SSH_DOCUMENT = "AWS-StartSSHSession"
FORWARD_DOCUMENT = "AWS-StartPortForwardingSession"

# botocore ClientError's text, after "aws: [ERROR]: " in AWS CLI 2.34+ (awscli/errorformat.py) and alone before.
CLIENT_ERROR = re.compile(r"An error occurred \(([\w.]+)\) when calling the (\w+) operation: ?(.*)")


class AwsError(UserError):
    def __init__(self, message, code=None, stderr=""):
        UserError.__init__(self, message)
        self.code = code
        self.stderr = stderr


def aws_executable():
    exe = shutil.which("aws")
    if not exe:
        raise UserError("the AWS CLI v2 is not installed, or not on PATH: install it (%s), open a new terminal, then run this again" % INSTALL_CLI)
    return exe


def require_plugin():
    if not shutil.which("session-manager-plugin"):
        raise UserError("the Session Manager plugin is not installed, or not on PATH: install it (%s), open a new terminal, then run this again" % INSTALL_PLUGIN)


def explain(stderr, facts, what):
    """An AwsError saying what failed and what to do, from the AWS CLI's stderr."""
    text = stderr.strip()
    source = (facts.get("local") or {}).get("sourceProfile") or "<the profile you sign in with>"
    m = CLIENT_ERROR.search(text)
    code = m.group(1) if m else None
    detail = m.group(3).strip() if m else (text.splitlines()[-1] if text else "no message")
    if ("Token has expired and refresh failed" in text or "SSO session associated with this profile has expired" in text
            or "Error loading SSO Token" in text or code in ("ExpiredToken", "ExpiredTokenException", "UnrecognizedClientException")):
        msg = "your AWS sign-in has expired: run  aws sso login --profile %s  and then this again" % source
    elif "Unable to locate credentials" in text:
        msg = "you are not signed in to AWS: run  aws sso login --profile %s  and then this again" % source
    elif re.search(r"The config profile \(.*\) could not be found", text):
        msg = "%s (profile %s is not in your AWS config: run archaeo setup again)" % (detail, facts["profile"])
    elif "SessionManagerPlugin is not found" in text:
        msg = "the Session Manager plugin is not installed, or not on PATH: install it (%s)" % INSTALL_PLUGIN
    elif code in ("InvalidInstanceID.NotFound", "InvalidInstanceID.Malformed"):
        msg = "workstation %s does not exist any more (replaced by a deployment?): ask your engineer for a fresh setup line" % facts.get("instanceId")
    elif code in ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "UnauthorizedException"):
        msg = "%s was refused for role %s: %s. Check that the setup line is yours and current (your engineer: pulumi stack output researchers)" % (what, facts["profile"], detail)
    elif code == "TargetNotConnected":
        msg = "the workstation is not connected to Session Manager yet (%s): it connects a minute or two after it starts; archaeo status shows its state" % detail
    else:
        msg = "%s failed: %s" % (what, detail)
    return AwsError(msg, code, text)


class Aws:
    def __init__(self, facts):
        self.facts = facts
        self.exe = aws_executable()

    def base(self):
        return [self.exe, "--profile", self.facts["profile"], "--region", self.facts["region"]]

    def call(self, service, operation, *args):
        """The operation's JSON answer (a dict); AwsError on failure."""
        cmd = self.base() + [service, operation] + list(args) + ["--output", "json"]
        r = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, encoding="utf-8")
        if r.returncode != 0:
            raise explain(r.stderr, self.facts, "aws %s %s" % (service, operation))
        out = r.stdout.strip()
        if not out:
            return {}
        try:
            return json.loads(out)
        except ValueError:
            raise AwsError("aws %s %s answered something that is not JSON: %s" % (service, operation, out[:200]))

    def run(self, service, operation, *args):
        """Runs a command whose output is not JSON (eks update-kubeconfig); returns its stdout."""
        cmd = self.base() + [service, operation] + list(args)
        r = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, encoding="utf-8")
        if r.returncode != 0:
            raise explain(r.stderr, self.facts, "aws %s %s" % (service, operation))
        return r.stdout

    def session_command(self, target, document, parameters):
        return self.base() + ["ssm", "start-session", "--target", target, "--document-name", document, "--parameters", json.dumps(parameters, separators=(",", ":"))]


class Background:
    """A long-running child (the tunnel), its output collected, stoppable as Ctrl-C would stop it."""

    def __init__(self, cmd):
        import threading

        kw = {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP} if sys.platform == "win32" else {"start_new_session": True}
        self.cmd = cmd
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, encoding="utf-8", **kw)
        self.out = []
        self.err = []
        self._threads = [threading.Thread(target=self._drain, args=(s, buf), daemon=True) for s, buf in ((self.proc.stdout, self.out), (self.proc.stderr, self.err))]
        for t in self._threads:
            t.start()

    @staticmethod
    def _drain(stream, buf):
        for line in iter(stream.readline, ""):
            buf.append(line)

    def alive(self):
        return self.proc.poll() is None

    def stderr(self):
        for t in self._threads:
            t.join(timeout=2)
        return "".join(self.err)

    def stop(self, grace=5.0):
        """SIGINT first: the AWS CLI ignores it while the plugin runs, and the plugin ends its session on it."""
        import signal

        if not self.alive():
            return self.proc.returncode
        try:
            if sys.platform == "win32":
                self.proc.send_signal(signal.CTRL_BREAK_EVENT)
            else:
                os.killpg(self.proc.pid, signal.SIGINT)
            return self.proc.wait(timeout=grace)
        except (subprocess.TimeoutExpired, OSError):
            pass
        try:
            if sys.platform == "win32":
                self.proc.kill()
            else:
                os.killpg(self.proc.pid, signal.SIGKILL)
        except OSError:
            pass
        return self.proc.wait()
