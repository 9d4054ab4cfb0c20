"""Fails the image build when the final image carries what the lean image leaves out.

Two things (issue 20, "a lean base"):
- torchaudio, installed in any site-packages directory (a `.dist-info`/`.egg-info` whose metadata
  names it, or an importable `torchaudio` package): nothing here uses audio, and pytorch/pytorch,
  the base this image replaced, shipped it (~4 MiB plus its libraries' share of the layer);
- a C or C++ compiler on PATH (cc, c++, gcc, g++, clang, clang++, tcc, nvcc, also target-prefixed
  or versioned like x86_64-linux-gnu-gcc-11): the final stage is runtime only. torch.compile needs
  one (Triton builds its launcher with the system C compiler, Inductor's CPU code with a C++
  compiler), so archaeo-train's --compile falls back to eager mode in this image.

The final stage runs it with no arguments: the running interpreter's site-packages and $PATH.
Tests run it against a fake tree:

    python check_lean.py [--site DIR]... [--path DIR:DIR:...]

Exit 0: lean; 1: something found, each listed; 2: usage.
"""
from __future__ import annotations

import email.parser
import os
import re
import sys
import sysconfig

FORBIDDEN_PROJECTS = ("torchaudio",)
COMPILER = re.compile(r"^(?:[A-Za-z0-9_.]+-)*(?:cc|c\+\+|gcc|g\+\+|clang|clang\+\+|tcc|nvcc)(?:-[0-9][0-9.]*)?$")


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def project_name(entry: str, path: str) -> str:
    """The project a .dist-info/.egg-info entry belongs to: its metadata's Name, else the file name."""
    name = entry.rsplit(".", 1)[0].partition("-")[0]
    for meta in ("METADATA", "PKG-INFO"):
        f = os.path.join(path, meta) if os.path.isdir(path) else path
        if os.path.isfile(f):
            try:
                with open(f, encoding="utf-8", errors="replace") as fh:
                    name = email.parser.Parser().parse(fh, headersonly=True).get("Name") or name
            except OSError:
                pass
            break
    return normalise(name)


def forbidden_installs(site_dirs: list[str]) -> list[str]:
    found: list[str] = []
    for d in site_dirs:
        if not os.path.isdir(d):
            continue
        for entry in sorted(os.listdir(d)):
            path = os.path.join(d, entry)
            if entry.endswith((".dist-info", ".egg-info")) and project_name(entry, path) in FORBIDDEN_PROJECTS:
                found.append(f"{project_name(entry, path)} is installed: {path}")
            elif normalise(entry) in FORBIDDEN_PROJECTS and os.path.isdir(path):
                found.append(f"{entry} is importable: {path}")
    return found


def compilers(path_dirs: list[str]) -> list[str]:
    found: list[str] = []
    for d in path_dirs:
        if not d or not os.path.isdir(d):
            continue
        for entry in sorted(os.listdir(d)):
            full = os.path.join(d, entry)
            if COMPILER.match(entry) and os.path.isfile(full) and os.access(full, os.X_OK):
                found.append(f"a compiler is on PATH: {full}")
    return found


def main(argv: list[str]) -> int:
    sites: list[str] = []
    path: str | None = None
    it = iter(argv)
    for a in it:
        if a == "--site":
            sites.append(next(it, ""))
        elif a == "--path":
            path = next(it, "")
        else:
            print("usage: check_lean.py [--site SITE_PACKAGES]... [--path DIR:DIR:...]", file=sys.stderr)
            return 2
    if not sites:
        sites = sorted({sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]})
    for d in sites:
        if not os.path.isdir(d):
            print(f"check_lean: {d} is not a directory", file=sys.stderr)
            return 2
    path_dirs = (os.environ.get("PATH", "") if path is None else path).split(os.pathsep)
    problems = forbidden_installs(sites) + compilers(path_dirs)
    for p in problems:
        print(f"check_lean: {p}", file=sys.stderr)
    if problems:
        print("check_lean: the final image must have no torchaudio and no compiler (issue 20, 'a lean base'); "
              "find the requirement or apt package that brought it and drop it", file=sys.stderr)
        return 1
    print(f"check_lean: no {', '.join(FORBIDDEN_PROJECTS)} in {', '.join(sites)}; no compiler in {len([d for d in path_dirs if d])} PATH directories")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
