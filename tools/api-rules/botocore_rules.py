#!/usr/bin/env python3
"""Reads AWS API members from botocore's service models (AWS's published models, as the AWS CLI and
boto3 use them) and prints their constraints as JSON.

stdin: {"members": ["<service>:<Operation>:<Member path>", ...], "docs": ["<service>:<Operation>:<Member path>", ...]}
Member path: dotted structure members; "[]" after a name steps into the list's member, "{}" into a map's
value, "{key}" into a map's key (e.g. "BackupPlan.Rules[].RuleName", "Tags{key}").
stdout: {"botocore": "<version>", "members": {path: {"type", "min"?, "max"?, "pattern"?, "enum"?}},
         "docs": {path: "<the member's documentation, tags stripped>"},
         "regions": ["<every region of every partition in botocore/data/partitions.json>"],
         "missing": ["<paths this botocore does not have>"]  (only with "lenient": true in the request)}
Exit 1 naming every path that does not resolve (an operation or member AWS's model doesn't have),
unless the request says "lenient": true (comparing with another botocore version).
"""
import html
import json
import re
import sys

import botocore
import botocore.loaders
import botocore.session


def step(shape, token):
    """Follows one path token ("Name", "Name[]", "Name{}", "Name{key}", or a bare "[]"/"{}"/"{key}")."""
    m = re.fullmatch(r"([A-Za-z0-9_]*)((?:\[\]|\{\}|\{key\})*)", token)
    if not m:
        raise KeyError(f"bad path token {token!r}")
    name, suffixes = m.group(1), m.group(2)
    if name:
        if shape.type_name != "structure" or name not in shape.members:
            raise KeyError(f"{shape.name} has no member {name!r}")
        shape = shape.members[name]
    for s in re.findall(r"\[\]|\{\}|\{key\}", suffixes):
        if s == "[]" and shape.type_name == "list":
            shape = shape.member
        elif s == "{}" and shape.type_name == "map":
            shape = shape.value
        elif s == "{key}" and shape.type_name == "map":
            shape = shape.key
        else:
            raise KeyError(f"{shape.name} ({shape.type_name}) has no {s}")
    return shape


def resolve(session, path):
    service, operation, member = path.split(":", 2)
    shape = session.get_service_model(service).operation_model(operation).input_shape
    for token in member.split("."):
        shape = step(shape, token)
    return shape


def constraints(shape):
    out = {"type": shape.type_name}
    for k in ("min", "max", "pattern"):
        if k in shape.metadata:
            out[k] = shape.metadata[k]
    if getattr(shape, "enum", None):
        out["enum"] = list(shape.enum)
    return out


def doc_text(shape):
    text = re.sub(r"<[^>]+>", " ", shape.documentation or "")
    return re.sub(r"\s+", " ", html.unescape(text)).strip()


def main():
    req = json.load(sys.stdin)
    session = botocore.session.get_session()
    out = {"botocore": botocore.__version__, "members": {}, "docs": {}}
    partitions = botocore.loaders.Loader().load_data("partitions")["partitions"]
    out["regions"] = sorted(r for p in partitions for r in p["regions"] if not r.endswith("-global"))
    bad = []
    for key, fn in (("members", constraints), ("docs", doc_text)):
        for path in req.get(key, []):
            try:
                out[key][path] = fn(resolve(session, path))
            except Exception as e:  # noqa: BLE001 - every unresolvable path is reported together
                bad.append(f"{path}: {e}")
    if bad and req.get("lenient"):
        out["missing"] = sorted(b.split(": ", 1)[0] for b in bad)
    elif bad:
        print("unresolvable in botocore " + botocore.__version__ + ":\n  " + "\n  ".join(bad), file=sys.stderr)
        sys.exit(1)
    json.dump(out, sys.stdout, indent=1, sort_keys=True, ensure_ascii=False)


if __name__ == "__main__":
    main()
