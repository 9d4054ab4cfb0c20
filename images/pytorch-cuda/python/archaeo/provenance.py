"""Provenance for run.json: the data manifest (path, sha256, size, S3 URI, version id), git state,
software and hardware versions. Lets a museum say exactly what a published classifier was trained on.

ARCHAEO_DATA_MOUNTS (set by the workbench in every container and job) maps mount points to S3 prefixes:
  "/data=s3://<bucket>/datasets/;/mydata=s3://<bucket>/researchers/<id>/"
A file /data/a/b.jpg is then the object s3://<bucket>/datasets/a/b.jpg (Mountpoint maps keys to paths
one to one under its --prefix).
"""

import hashlib
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from .errors import ArchaeoError

MOUNTS_ENV = "ARCHAEO_DATA_MOUNTS"


def parse_data_mounts(value: Optional[str]) -> List[Tuple[str, str]]:
    """[(mount path, s3 prefix ending in '/')], longest mount first. Raises ArchaeoError naming the
    variable for a malformed entry."""
    mounts = []
    for raw in (value or "").split(";"):
        entry = raw.strip()
        if not entry:
            continue
        path, sep, uri = entry.partition("=")
        path, uri = path.strip(), uri.strip()
        if not sep or not os.path.isabs(path) or not uri.startswith("s3://") or len(uri) <= len("s3://"):
            raise ArchaeoError(
                f"{MOUNTS_ENV} entry {entry!r}: expected /mount/path=s3://bucket/prefix/ "
                f"(entries separated by ';', e.g. /data=s3://my-bucket/datasets/)"
            )
        mounts.append((os.path.normpath(path), uri if uri.endswith("/") else uri + "/"))
    return sorted(mounts, key=lambda m: len(m[0]), reverse=True)


def _locate(path: str, mounts: Sequence[Tuple[str, str]], itself: bool = True) -> Optional[Tuple[str, str, str]]:
    """(mount, prefix, path relative to the mount with "/" separators, "." for the mount itself) of the
    first mount holding `path`'s absolute or real path (strictly inside it unless `itself`), or None."""
    for candidate in dict.fromkeys([os.path.abspath(path), os.path.realpath(path)]):
        for mount, prefix in mounts:
            if (itself and candidate == mount) or candidate.startswith(mount.rstrip("/") + "/"):
                return mount, prefix, os.path.relpath(candidate, mount).replace(os.sep, "/")
    return None


def mount_of(path: str, mounts: Sequence[Tuple[str, str]]) -> Optional[Tuple[str, str]]:
    """The (mount, prefix) that holds `path` (absolute, or its real path), or None."""
    found = _locate(path, mounts)
    return found[:2] if found else None


def s3_uri_for(path: str, mounts: Sequence[Tuple[str, str]]) -> Optional[str]:
    """s3://bucket/prefix/<path relative to its mount>, or None when the file is not on a mount."""
    found = _locate(path, mounts, itself=False)
    return found[1] + found[2] if found else None


def s3_prefix_for_dir(path: str, mounts: Sequence[Tuple[str, str]]) -> Optional[str]:
    """s3://bucket/prefix/<folder>/ for a folder on a mount (the mount itself maps to its prefix), or None."""
    found = _locate(path, mounts)
    if found is None:
        return None
    _, prefix, rel = found
    return prefix if rel == "." else f"{prefix}{rel}/"


def sha256_and_size(path: str) -> Tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size


def build_manifest(root: str, rel_paths: Sequence[str], labels: Sequence[str], splits: Sequence[str],
                   mounts: Sequence[Tuple[str, str]], threads: int = 8,
                   hashed: Optional[Sequence[Tuple[str, int]]] = None) -> List[dict]:
    """One entry per file, in the given order: {path, class, split, sha256, bytes, s3_uri}. Hashing runs
    on a thread pool (file reads release the GIL; an S3 mount answers many reads at once), unless `hashed`
    gives each file's (sha256, bytes) already (archaeo.collection.vet read them). Paths that are not UTF-8
    are written with \\xNN escapes (archaeo.data.printable)."""
    from .data import printable

    absolute = [os.path.join(root, rel) for rel in rel_paths]
    if hashed is None:
        with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
            hashed = list(pool.map(sha256_and_size, absolute))
    return [
        {"path": printable(rel).replace(os.sep, "/"), "class": printable(label), "split": split, "sha256": digest, "bytes": size,
         "s3_uri": s3_uri_for(path, mounts)}
        for rel, label, split, (digest, size), path in zip(rel_paths, labels, splits, hashed, absolute)
    ]


def manifest_digest(entries: Sequence[Mapping]) -> str:
    """sha256 over "path<TAB>sha256<TAB>bytes<TAB>class" lines: one value that changes when any file,
    name or label changes (what a resume checks)."""
    digest = hashlib.sha256()
    for e in entries:
        digest.update(f"{e['path']}\t{e['sha256']}\t{e['bytes']}\t{e['class']}\n".encode())
    return digest.hexdigest()


def add_s3_versions(entries: List[dict], threads: int = 16) -> Optional[str]:
    """Adds s3_version_id to entries that have an s3_uri (HeadObject). Returns a warning when boto3,
    credentials or the API are not available (the version ids then stay null), else None."""
    targets = [e for e in entries if e.get("s3_uri")]
    for e in entries:
        e["s3_version_id"] = None
    if not targets:
        return f"--s3-versions: no training file lies under a mount in {MOUNTS_ENV}; no version ids recorded"
    try:
        import boto3
    except ImportError:
        return "--s3-versions: boto3 is not installed here; version ids not recorded (file hashes are)"

    client = boto3.client("s3")

    def head(entry: dict) -> Optional[str]:
        bucket, _, key = entry["s3_uri"][len("s3://"):].partition("/")
        return client.head_object(Bucket=bucket, Key=key).get("VersionId")

    try:
        with ThreadPoolExecutor(max_workers=threads) as pool:
            versions = list(pool.map(head, targets))
    except Exception as exc:  # noqa: BLE001 - NoCredentialsError, ClientError (403/404), endpoint errors
        return f"--s3-versions: S3 HeadObject failed ({type(exc).__name__}: {exc}); version ids not recorded"
    for entry, version in zip(targets, versions):
        entry["s3_version_id"] = version
    return None


def _git(args: List[str], cwd: str) -> Optional[str]:
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def git_info(script: Optional[str], cwd: str) -> Optional[dict]:
    """{commit, dirty, root, source} of the first git work tree holding the running script or the
    working directory; None when neither is in one (or git is absent)."""
    if shutil.which("git") is None:
        return None
    places = []
    if script and os.path.exists(script):
        places.append(("script", os.path.dirname(os.path.abspath(script))))
    places.append(("cwd", cwd))
    for source, folder in places:
        commit = _git(["rev-parse", "HEAD"], folder)
        if commit:
            status = _git(["status", "--porcelain", "--untracked-files=no"], folder)
            return {"commit": commit, "dirty": bool(status), "root": _git(["rev-parse", "--show-toplevel"], folder),
                    "source": source}
    return None


def nvidia_driver() -> Optional[str]:
    """The NVIDIA driver version from nvidia-smi, or None where there is none."""
    if shutil.which("nvidia-smi") is None:
        return None
    try:
        done = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                              capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    lines = [line.strip() for line in done.stdout.splitlines() if line.strip()]
    return lines[0] if done.returncode == 0 and lines else None


def software_info() -> dict:
    import numpy
    import PIL
    import torch
    import torchvision

    from . import __version__

    cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    return {
        "archaeo": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "numpy": numpy.__version__,
        "pillow": PIL.__version__,
        "cuda": torch.version.cuda,
        "cudnn": cudnn,
        "nvidia_driver": nvidia_driver(),
        "platform": platform.platform(),
    }


def hardware_info(device_type: str) -> dict:
    import torch

    gpus = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if torch.cuda.is_available() else []
    return {"device": device_type, "gpus": gpus, "cpu_count": os.cpu_count(), "hostname": socket.gethostname()}


def container_info(env: Mapping[str, str]) -> Dict[str, Optional[str]]:
    """What the workbench tells a container about itself (null outside the workbench)."""
    return {"image": env.get("ARCHAEO_IMAGE") or None, "researcher": env.get("ARCHAEO_RESEARCHER") or None}


def write_atomic(path: str, write: Callable[[str], None]) -> None:
    """Calls write(temporary path) and renames the result over `path`: a reader (or a crash mid-write)
    never sees half a file."""
    tmp = f"{path}.tmp-{os.getpid()}"
    write(tmp)
    # The bytes reach the disk before the name does: after a power cut or a stopped instance the file is
    # the old one or the new one, never an empty new name (ext4/xfs delayed allocation).
    fd = os.open(tmp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def write_text_atomic(path: str, text: str) -> None:
    def write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(text)

    write_atomic(path, write)


def write_json_atomic(path: str, data) -> None:
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def script_path() -> Optional[str]:
    """The file Python was started with (a script, `-m` module file, or console-script wrapper)."""
    return sys.argv[0] if sys.argv and sys.argv[0] not in ("", "-c", "-m") else None
