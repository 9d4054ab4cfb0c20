"""The marked blocks archaeo keeps in your ~/.ssh/config and ~/.aws/config: replaced in place on each run,
never duplicated, and nothing outside them touched."""
import os
import re
import sys

from .facts import UserError


def _markers(kind, researcher_id):
    return ("# >>> archaeo-workbench %s: %s (written by `archaeo %s`; it replaces this block) >>>" % (researcher_id, kind, kind),
            "# <<< archaeo-workbench %s: %s <<<" % (researcher_id, kind))


def _begin_re(kind, researcher_id):
    return re.compile(r"^# >>> archaeo-workbench %s: %s\b.*$" % (re.escape(researcher_id), re.escape(kind)))


def replace_block(text, kind, researcher_id, body_lines, at_top):
    """`text` with archaeo's block for (kind, id) holding body_lines: where it was, else at the top or the end."""
    begin, end = _markers(kind, researcher_id)
    newline = "\r\n" if "\r\n" in text else "\n"
    lines = text.splitlines()
    block = [begin] + body_lines + [end]
    start = next((i for i, l in enumerate(lines) if _begin_re(kind, researcher_id).match(l)), None)
    if start is not None:
        stop = next((i for i in range(start + 1, len(lines)) if lines[i].strip() == end), None)
        if stop is None:
            raise UserError("archaeo's block for %s starts at line %d but its end line (%s) is gone: delete the block's lines and run this again" % (researcher_id, start + 1, end))
        lines[start:stop + 1] = block
    elif at_top:
        lines = block + ([""] if lines else []) + lines
    else:
        lines = lines + ([""] if lines and lines[-1].strip() else []) + block
    return newline.join(lines) + newline


def without_block(text, kind, researcher_id):
    """`text` with archaeo's block for (kind, id) left out (to judge what is outside it)."""
    lines, out, inside = text.splitlines(), [], False
    end = _markers(kind, researcher_id)[1]
    for line in lines:
        if _begin_re(kind, researcher_id).match(line):
            inside = True
        elif inside and line.strip() == end:
            inside = False
        elif not inside:
            out.append(line)
    return "\n".join(out)


def write_file(path, text, mode=0o600):
    d = os.path.dirname(path)
    if d and not os.path.isdir(d):
        os.makedirs(d, mode=0o700)
    existed = os.path.exists(path)
    tmp = path + ".archaeo-tmp"
    with open(tmp, "w", encoding="utf-8", newline="") as f:
        f.write(text)
    if existed:
        try:
            os.chmod(tmp, os.stat(path).st_mode & 0o777)
        except OSError:
            pass
    else:
        os.chmod(tmp, mode)
    os.replace(tmp, path)


def read_file(path):
    if not os.path.exists(path):
        return ""
    with open(path, encoding="utf-8", newline="") as f:
        return f.read()


# ---- ~/.ssh/config ----

def default_ssh_config():
    return os.environ.get("ARCHAEO_SSH_CONFIG") or os.path.join(os.path.expanduser("~"), ".ssh", "config")


def host_alias(researcher_id):
    return "archaeo-%s" % researcher_id


def proxy_command(facts, aws_exe, platform=None):
    """The ProxyCommand line: AWS's own (Session Manager user guide, "Allow and control permissions for SSH
    connections through Session Manager"), with the researcher's profile and region, and on macOS/Linux the AWS
    CLI's full path, since VS Code and other apps started from the desktop may not have its directory on PATH."""
    aws_args = "--profile %s --region %s ssm start-session --target %%h --document-name AWS-StartSSHSession --parameters portNumber=%%p" % (facts["profile"], facts["region"])
    if (platform or sys.platform) == "win32":
        return 'C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe "aws %s"' % aws_args
    import shlex

    # ssh runs the ProxyCommand with the user's shell (`exec <command>`); '%' is a token character in ssh_config.
    return "%s %s" % (shlex.quote(aws_exe).replace("%", "%%"), aws_args)


def ssh_block(facts, aws_exe, identity_file=None, platform=None):
    """Host archaeo-<id>: ssh/scp/rsync/VS Code through Session Manager. Keywords: ssh_config(5)."""
    alias = host_alias(facts["id"])
    lines = [
        "Host %s" % alias,
        "    HostName %s" % facts["instanceId"],
        "    User %s" % facts["user"],
        "    Port %d" % facts["ports"]["ssh"],
        "    ProxyCommand %s" % proxy_command(facts, aws_exe, platform),
        # The workstation's host keys live on its workspace volume: under one alias they stay trusted when the
        # instance is replaced (new id, same volume). accept-new trusts the first key and refuses a changed one.
        "    HostKeyAlias %s" % alias,
        "    StrictHostKeyChecking accept-new",
        # Keeps an idle session (a `tail -F`, an editor) from Session Manager's idle timeout (20 minutes by default).
        "    ServerAliveInterval 30",
        "    ServerAliveCountMax 4",
    ]
    if identity_file:
        lines += ['    IdentityFile "%s"' % os.path.abspath(os.path.expanduser(identity_file)), "    IdentitiesOnly yes"]
    # First obtained value wins in ssh_config (ssh_config(5)): this block goes first, so a general `Host *` below
    # cannot change its User or Port; `Host *` then closes it, so lines that followed at the top stay global.
    lines += ["Host *"]
    return lines


def retarget_ssh_block(text, researcher_id, instance_id):
    """`text` with the HostName in archaeo's ssh-config block for this researcher set to instance_id (the ProxyCommand
    targets %h); None when there is no such block."""
    lines, inside, found = text.splitlines(True), False, False
    for i, line in enumerate(lines):
        if _begin_re("ssh-config", researcher_id).match(line.rstrip("\r\n")):
            inside, found = True, True
        elif inside and line.strip() == _markers("ssh-config", researcher_id)[1]:
            inside = False
        elif inside and re.match(r"^\s*HostName\s", line):
            ending = line[len(line.rstrip("\r\n")):]
            lines[i] = "    HostName %s%s" % (instance_id, ending)
    return "".join(lines) if found else None


def foreign_hosts(text, researcher_id):
    """Line numbers of `Host archaeo-<id>` entries outside archaeo's block (they would be shadowed)."""
    alias = host_alias(researcher_id)
    out, inside = [], False
    for n, line in enumerate(text.splitlines(), 1):
        if _begin_re("ssh-config", researcher_id).match(line):
            inside = True
        elif line.strip().startswith("# <<< archaeo-workbench %s: ssh-config" % researcher_id):
            inside = False
        elif not inside and re.match(r"^\s*Host\s+(.+)$", line, re.I) and alias in line.split()[1:]:
            out.append(n)
    return out


# ---- ~/.aws/config ----

def default_aws_config():
    return os.environ.get("AWS_CONFIG_FILE") or os.path.join(os.path.expanduser("~"), ".aws", "config")


def profile_block(facts, source_profile):
    """The awsProfile stack output (infra/foundation/researcher.ts awsProfileSnippet) with your source profile."""
    return [
        "[profile %s]" % facts["profile"],
        "role_arn = %s" % facts["roleArn"],
        "role_session_name = %s" % facts["id"],
        "source_profile = %s" % source_profile,
        "region = %s" % facts["region"],
    ]


def aws_sections(text):
    """[(section name, line number, keys)] of an AWS config file, as configparser would see them."""
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        m = re.match(r"^\s*\[([^\]]+)\]\s*$", line)
        if m:
            out.append([m.group(1).strip(), n, {}])
        elif out and re.match(r"^\s*[A-Za-z_][\w.-]*\s*=", line):
            k, v = line.split("=", 1)
            out[-1][2][k.strip()] = v.strip()
    return out


def profile_names(text):
    names = []
    for name, _, _ in aws_sections(text):
        if name == "default":
            names.append("default")
        elif name.startswith("profile "):
            names.append(name[len("profile "):].strip())
    return names


def sign_in_profiles(text, exclude):
    """Profiles that sign in with IAM Identity Center (sso_session / sso_start_url), archaeo's own left out."""
    return [name[len("profile "):].strip() if name.startswith("profile ") else name
            for name, _, keys in aws_sections(text)
            if (name == "default" or name.startswith("profile ")) and ("sso_session" in keys or "sso_start_url" in keys)
            and name != "profile %s" % exclude]
