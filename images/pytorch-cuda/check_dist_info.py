"""Fails when a site-packages directory holds two installed versions of one project.

`pip install --prefix` over the torch stage installs next to its own packages, never over them:
a requirement that moved a base package to another version leaves both `<name>-A.dist-info` and
`<name>-B.dist-info` (and a mix of both versions' files) behind once the layers are copied together.
The build runs this over the base's site-packages and the one it installed into. Project names are compared
normalised (PEP 503: case-insensitive, runs of "-", "_", "." equal); `.egg-info` (conda, setup.py
installs) counts too. With `--base DIR`, duplicates found only inside the base's own DIR are reported
as warnings (the base image ships them; nothing we install can fix that), and any duplicate that
involves a directory we installed into fails. Exit 0: one version per project; 1: duplicates, each
listed; 2: usage.

    python check_dist_info.py --base /opt/python/lib/python3.11/site-packages /install/lib/python3.11/site-packages
"""
from __future__ import annotations

import email.parser
import os
import re
import sys
from collections import defaultdict


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def project_of(path: str) -> tuple[str, str]:
    """(normalised name, version) of a .dist-info or .egg-info entry, from its metadata if readable."""
    base = os.path.basename(path)
    stem = base.rsplit(".", 1)[0]
    name, _, version = stem.partition("-")
    for meta in ("METADATA", "PKG-INFO"):
        f = os.path.join(path, meta) if os.path.isdir(path) else path
        if os.path.isfile(f):
            try:
                with open(f, encoding="utf-8", errors="replace") as fh:
                    headers = email.parser.Parser().parse(fh, headersonly=True)
                name = headers.get("Name") or name
                version = headers.get("Version") or version
            except OSError:
                pass
            break
    return normalise(name), version.split("-")[0]


def duplicates(site_dirs: list[str]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = defaultdict(list)
    for d in site_dirs:
        for entry in sorted(os.listdir(d)):
            if entry.endswith((".dist-info", ".egg-info")):
                name, version = project_of(os.path.join(d, entry))
                found[name].append(f"{version} ({os.path.join(d, entry)})")
    return {k: v for k, v in sorted(found.items()) if len(v) > 1}


def main(argv: list[str]) -> int:
    base: list[str] = []
    added: list[str] = []
    it = iter(argv)
    for a in it:
        if a == "--base":
            base.append(next(it, ""))
        else:
            added.append(a)
    if not added:
        print("usage: check_dist_info.py [--base BASE_SITE_PACKAGES] SITE_PACKAGES [...]", file=sys.stderr)
        return 2
    for d in base + added:
        if not os.path.isdir(d):
            print(f"check_dist_info: {d} is not a directory", file=sys.stderr)
            return 2
    failed = False
    for name, entries in duplicates(base + added).items():
        ours = any(f"({os.path.join(d, '')}" in e for d in added for e in entries)
        print(f"check_dist_info: {'' if ours else 'warning (in the base image): '}{name} is installed more than once: "
              f"{', '.join(entries)}", file=sys.stderr)
        failed = failed or ours
    if failed:
        print("check_dist_info: a requirement moved a package the base already has; drop it from requirements.txt "
              "(the base's version is kept by the constraints file) or change the base", file=sys.stderr)
        return 1
    print(f"check_dist_info: one version per project in {', '.join(base + added)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
