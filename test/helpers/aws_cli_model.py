"""Checks AWS CLI command lines, and the JSON the CLI printed for them, against AWS's service models.

Reads {"commands": [{"id": str, "argv": ["ec2", "describe-snapshots", "--owner-ids", "self", ...],
"stdout": str | null}]} on stdin (argv without the leading `aws`) and prints, for each command, the
botocore service and operation it names and every problem found:

- the service (the CLI's name: s3api is botocore's s3) and the operation (`describe-snapshots` is
  xform_name("DescribeSnapshots", "-"), as awscli names its commands) or waiter (`wait snapshot-completed`,
  waiters-2.json) exist;
- a command may carry `feed` {expression, data}: its `file://` value is that JMESPath expression (an
  earlier command's --query) over that data (a recorded response), so what one command writes is checked
  as what the next one reads;
- every option is an input member of the operation (again by xform_name), a CLI global option, or a
  pagination option of an operation botocore can paginate; booleans are flags (--x / --no-x), as awscli
  builds them; values are read the way the CLI reads them (JSON, or the shorthand Key=Value,Key2=a,b and
  one token per list item); `file://` values are taken as given;
- the parameters then pass botocore's own ParamValidator (unknown members, missing required members,
  types) against the operation's input shape;
- the printed JSON passes the same validator against the operation's output shape (timestamps as the
  ISO strings the CLI prints).

The models are botocore's: botocore/data/<service>/<version>/service-2.json (Debian python3-botocore:
/usr/lib/python3/dist-packages/botocore/data/...). Shorthand is a subset: what the runbooks and the
restore tool use.
"""
import json
import sys

import os

import botocore
from botocore import xform_name
from botocore.model import ServiceModel
from botocore.validate import ParamValidator

CLI_SERVICE_NAMES = {"s3api": "s3"}
# awscli's global options (aws help, "Global Options"), each with whether it takes a value.
GLOBAL_OPTIONS = {
    "--region": True, "--output": True, "--query": True, "--profile": True, "--endpoint-url": True,
    "--no-cli-pager": False, "--no-paginate": False, "--debug": False, "--color": True, "--cli-read-timeout": True,
}
# awscli's pagination options, on operations botocore has a paginator for (paginators-1.json).
PAGINATION_OPTIONS = {"--max-items", "--starting-token", "--page-size"}

# The models as botocore's Loader finds them (data/<service>/<newest api version>/), read directly: the Loader and the
# session would also import the credential and endpoint machinery, half a second this check does not need.
DATA = os.path.join(os.path.dirname(botocore.__file__), "data")
_cache = {}


def service_files(service):
    """{"service": model, "paginators": {...}, "waiters": {...}} of the newest API version, or None."""
    if service not in _cache:
        base = os.path.join(DATA, service)
        # Debian's botocore has service-2.json, pip's service-2.json.gz (read() takes either).
        versions = sorted(v for v in os.listdir(base) if any(os.path.exists(os.path.join(base, v, f)) for f in ("service-2.json", "service-2.json.gz"))) if os.path.isdir(base) else []
        if not versions:
            _cache[service] = None
        else:
            d = os.path.join(base, versions[-1])

            def read(name, key):
                for f in (name, name + ".gz"):
                    p = os.path.join(d, f)
                    if os.path.exists(p):
                        if f.endswith(".gz"):
                            import gzip
                            with gzip.open(p, "rt") as h:
                                return json.load(h).get(key, {}) if key else json.load(h)
                        with open(p) as h:
                            return json.load(h).get(key, {}) if key else json.load(h)
                return {}
            _cache[service] = {"model": ServiceModel(read("service-2.json", None), service_name=service),
                               "paginators": read("paginators-1.json", "pagination"), "waiters": read("waiters-2.json", "waiters")}
    return _cache[service]


def split_top(text, sep=","):
    """Splits at `sep` outside brackets."""
    out, depth, cur = [], 0, ""
    for ch in text:
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        if ch == sep and depth == 0:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    out.append(cur)
    return out


def shorthand(text):
    """Key=Value,Key2=a,b,Key3=[x,y] -> dict (a part without '=' continues the previous key's list)."""
    out, last = {}, None
    for part in split_top(text):
        if "=" in part and not part.startswith("["):
            k, v = part.split("=", 1)
            k = k.strip()
            if v.startswith("[") and v.endswith("]"):
                v = [x.strip() for x in split_top(v[1:-1]) if x.strip()]
            out[k], last = v, k
        elif last is not None:
            prev = out[last]
            out[last] = (prev if isinstance(prev, list) else [prev]) + [part]
        else:
            raise ValueError(f"cannot read shorthand {text!r}")
    return out


def coerce(value, shape):
    """Gives a value read from the command line the type the shape wants, as awscli's argprocess does."""
    t = shape.type_name
    if t == "structure":
        if isinstance(value, str):
            value = json.loads(value) if value.lstrip().startswith("{") else shorthand(value)
        if not isinstance(value, dict):
            return value
        members = shape.members
        return {k: (coerce(v, members[k]) if k in members else v) for k, v in value.items()}
    if t == "list":
        if isinstance(value, str) and value.lstrip().startswith("["):
            value = json.loads(value)
        if not isinstance(value, list):
            value = [value]
        return [coerce(v, shape.member) for v in value]
    if t == "map":
        if isinstance(value, str):
            value = json.loads(value) if value.lstrip().startswith("{") else shorthand(value)
        return {k: coerce(v, shape.value) for k, v in value.items()} if isinstance(value, dict) else value
    if t in ("integer", "long") and isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            return value
    if t in ("double", "float") and isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    if t == "boolean" and isinstance(value, str) and value in ("true", "false"):
        return value == "true"
    return value


def enum_problems(value, shape, path, out):
    """ParamValidator does not check enums; the CLI sends whatever it is given and AWS refuses it: checked here."""
    t = shape.type_name
    if t == "structure" and isinstance(value, dict):
        for k, v in value.items():
            if k in shape.members:
                enum_problems(v, shape.members[k], f"{path}.{k}", out)
    elif t == "list" and isinstance(value, list):
        for n, v in enumerate(value):
            enum_problems(v, shape.member, f"{path}[{n}]", out)
    elif t == "map" and isinstance(value, dict):
        for k, v in value.items():
            enum_problems(v, shape.value, f"{path}.{k}", out)
    elif t == "string" and isinstance(value, str) and getattr(shape, "enum", None) and value not in shape.enum:
        out.append(f"{path}: {value!r} is not one of {', '.join(shape.enum)}")


def operation_of(files, argv, problems):
    """(operation model, the remaining argv) for `op ...` or `wait <waiter> ...`."""
    model = files["model"]
    if not argv:
        problems.append("no operation")
        return None, []
    if argv[0] == "wait":
        names = {xform_name(n, "-"): n for n in files["waiters"]}
        if len(argv) < 2 or argv[1] not in names:
            problems.append(f"no waiter {argv[1:2]} in {model.service_name} (waiters: {', '.join(sorted(names))})")
            return None, []
        return model.operation_model(files["waiters"][names[argv[1]]]["operation"]), argv[2:]
    names = {xform_name(n, "-"): n for n in model.operation_names}
    if argv[0] not in names:
        problems.append(f"no operation {argv[0]} in {model.service_name}")
        return None, []
    return model.operation_model(names[argv[0]]), argv[1:]


def check(cmd):
    problems = []
    argv = cmd["argv"]
    if cmd.get("feed"):
        # A `file://` value written by an earlier command's --query: evaluated here with botocore's own JMESPath.
        import jmespath
        fed = json.dumps(jmespath.search(cmd["feed"]["expression"], cmd["feed"]["data"]))
        argv = [fed if a.startswith("file://") else a for a in argv]
    result = {"id": cmd.get("id"), "problems": problems}
    if not argv:
        problems.append("empty command")
        return result
    service = CLI_SERVICE_NAMES.get(argv[0], argv[0])
    files = service_files(service)
    if files is None:
        problems.append(f"no service {argv[0]}")
        return result
    op, rest = operation_of(files, argv[1:], problems)
    if op is None:
        return result
    result.update(service=service, operation=op.name)
    members = op.input_shape.members if op.input_shape else {}
    by_option = {f"--{xform_name(m, '-')}": m for m in members}
    can_paginate = op.name in files["paginators"]
    params, i = {}, 0
    while i < len(rest):
        opt = rest[i]
        if not opt.startswith("--"):
            problems.append(f"unexpected argument {opt!r}")
            i += 1
            continue
        if opt in GLOBAL_OPTIONS:
            i += 2 if GLOBAL_OPTIONS[opt] else 1
            continue
        if opt in PAGINATION_OPTIONS:
            if not can_paginate:
                problems.append(f"{opt}: {op.name} has no paginator")
            i += 2
            continue
        negated = opt.startswith("--no-") and f"--{opt[5:]}" in by_option and members[by_option[f'--{opt[5:]}']].type_name == "boolean"
        if negated:
            params[by_option[f"--{opt[5:]}"]] = False
            i += 1
            continue
        if opt not in by_option:
            problems.append(f"{opt} is not a parameter of {op.name} (its parameters: {', '.join(sorted(by_option))})")
            i += 1
            continue
        name = by_option[opt]
        shape = members[name]
        if shape.type_name == "boolean":
            params[name] = True
            i += 1
            continue
        values = []
        i += 1
        while i < len(rest) and not rest[i].startswith("--"):
            values.append(rest[i])
            i += 1
        if not values:
            problems.append(f"{opt} needs a value")
            continue
        if any(v.startswith("file://") for v in values):
            if shape.type_name not in ("structure", "list", "map", "string", "blob"):
                problems.append(f"{opt}: file:// for a {shape.type_name}")
            continue
        try:
            if shape.type_name == "list" and len(values) > 1:
                params[name] = [coerce(v, shape.member) for v in values]
            elif len(values) > 1:
                problems.append(f"{opt} takes one value, got {values}")
                continue
            else:
                params[name] = coerce(values[0], shape)
        except (ValueError, json.JSONDecodeError) as e:
            problems.append(f"{opt}: {e}")
    if op.input_shape is not None:
        report = ParamValidator().validate(params, op.input_shape)
        if report.has_errors():
            problems.append(report.generate_report())
        for k, v in params.items():
            enum_problems(v, op.input_shape.members[k], k, problems)
    result["params"] = params
    if cmd.get("stdout"):
        try:
            printed = json.loads(cmd["stdout"])
        except json.JSONDecodeError as e:
            problems.append(f"output is not JSON: {e}")
            return result
        if op.output_shape is None:
            problems.append(f"{op.name} has no output, but the recording has some")
        else:
            report = ParamValidator().validate(printed, op.output_shape)
            if report.has_errors():
                problems.append("output: " + report.generate_report())
    return result


def main():
    request = json.load(sys.stdin)
    out = {"botocore": botocore.__version__, "data": DATA,
           "results": [check(c) for c in request["commands"]]}
    json.dump(out, sys.stdout, default=str)


if __name__ == "__main__":
    main()
