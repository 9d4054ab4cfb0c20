"""Your workbench's facts (instance, region, profile, SSM path...): read from the setup code once, kept on disk.

The setup code is the `cliSetup` stack output (infra/cli.ts): `archaeo1.` and the facts as base64url JSON.
"""
import json
import os
import re
import sys

PREFIX = "archaeo1."
VERSION = 1
ID = re.compile(r"^[a-z][a-z0-9-]{0,39}$")


class UserError(Exception):
    """A problem the user can fix; printed without a traceback, naming what to do."""


def config_dir():
    """Where `archaeo setup` keeps its files: ARCHAEO_HOME, else %APPDATA%\\archaeo or ~/.config/archaeo."""
    if os.environ.get("ARCHAEO_HOME"):
        return os.environ["ARCHAEO_HOME"]
    if sys.platform == "win32" and os.environ.get("APPDATA"):
        return os.path.join(os.environ["APPDATA"], "archaeo")
    return os.path.join(os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config"), "archaeo")


def _require(facts, keys, where):
    missing = [k for k in keys if k not in facts]
    if missing:
        raise UserError("%s lacks %s: ask your engineer for a fresh setup line (pulumi stack output researchers)" % (where, ", ".join(missing)))


def validate(facts, where="the setup code"):
    """The facts, checked: every field this version needs, of the right form."""
    if not isinstance(facts, dict):
        raise UserError("%s is not a workbench description" % where)
    if facts.get("v") != VERSION:
        raise UserError("%s is format v%s; this archaeo understands v%d: upgrade it (pipx upgrade archaeo-workbench-cli)" % (where, facts.get("v"), VERSION))
    _require(facts, ["mode", "id", "region", "profile", "roleArn", "bucket", "dataPrefix"], where)
    if not ID.match(str(facts["id"])):
        raise UserError("%s names researcher '%s', which is not a workbench id" % (where, facts["id"]))
    if facts["mode"] == "instance":
        _require(facts, ["instanceId", "ssmPath", "user", "ports", "trainLog"], where)
        if not re.match(r"^i-[0-9a-f]{8,17}$", facts["instanceId"]):
            raise UserError("%s has instance '%s', not an EC2 instance id" % (where, facts["instanceId"]))
    elif facts["mode"] == "cluster":
        _require(facts, ["clusterName", "hubUrl", "hubNamespace", "serverPod"], where)
    else:
        raise UserError("%s has mode '%s'; this archaeo knows instance and cluster: upgrade it" % (where, facts["mode"]))
    return facts


def decode(text):
    """Facts from a setup code (also accepted: the whole `archaeo setup archaeo1...` line, or a JSON file's text)."""
    text = text.strip()
    if text.startswith("archaeo setup "):
        text = text[len("archaeo setup "):].strip()
    if text.startswith("{"):
        try:
            return validate(json.loads(text), "that JSON")
        except ValueError as e:
            raise UserError("that JSON does not parse (%s)" % e)
    if not text.startswith(PREFIX):
        raise UserError("'%s...' is not a setup code: it starts with %s (the cliSetup line your engineer sent)" % (text[:12], PREFIX))
    import base64
    import binascii

    body = text[len(PREFIX):]
    try:
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        facts = json.loads(raw.decode("utf-8"))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise UserError("the setup code is damaged (cut short or wrapped over two lines?): paste the whole line again")
    return validate(facts)


def path_for(researcher_id):
    return os.path.join(config_dir(), "%s.json" % researcher_id)


def save(facts, extra):
    os.makedirs(config_dir(), exist_ok=True)
    data = dict(facts, local=extra)
    p = path_for(facts["id"])
    tmp = p + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2, sort_keys=True)
    os.replace(tmp, p)
    return p


def known():
    d = config_dir()
    if not os.path.isdir(d):
        return []
    return sorted(n[:-5] for n in os.listdir(d) if n.endswith(".json") and ID.match(n[:-5]))


def load(researcher_id=None):
    """The stored facts of one researcher: the one given, or the only one set up."""
    ids = known()
    if researcher_id is None:
        if not ids:
            raise UserError("not set up yet: run  archaeo setup <the line your engineer sent you>  first")
        if len(ids) > 1:
            raise UserError("several workbenches are set up (%s): say which with --id" % ", ".join(ids))
        researcher_id = ids[0]
    if researcher_id not in ids:
        raise UserError("no workbench '%s' is set up (%s): run archaeo setup with its line" % (researcher_id, ", ".join(ids) or "none"))
    with open(path_for(researcher_id), encoding="utf-8") as f:
        data = json.load(f)
    return validate(data, path_for(researcher_id))
