"""archaeo-cite RUN_DIR: a methods paragraph, a CITATION.cff and an RO-Crate for one training run, from its run.json.

What a paper needs to say about a model, taken from what the run recorded rather than from memory: the data
(how many images, which classes, what was excluded and why, the manifest's sha256), the code (archaeo's
version and the sha256 of its source, the container image), the model and its starting weights, every
transform, the optimiser, schedule, loss and precision, the split, the seed and the result.

Writes RUN_DIR/METHODS.md, RUN_DIR/CITATION.cff (Citation File Format 1.2.0) and
RUN_DIR/ro-crate-metadata.json (RO-Crate 1.1), and prints the paragraph.
"""

import argparse
import json
import os
from collections import Counter
from typing import List, Optional

from .errors import ArchaeoError, run_cli


def _load(run_dir: str) -> dict:
    path = os.path.join(run_dir, "run.json")
    try:
        with open(path, encoding="utf-8") as handle:
            run = json.load(handle)
    except OSError:
        raise ArchaeoError(f"{run_dir}: no run.json (archaeo-train writes it in its --output-dir)") from None
    except ValueError as exc:
        raise ArchaeoError(f"{path}: not JSON ({exc})") from None
    if run.get("format") != "archaeo-run/1":
        raise ArchaeoError(f"{path}: not an archaeo-train run.json (format {run.get('format')!r})")
    return run


# What archaeo-train's exclusion reasons say (archaeo.data, archaeo.collection, archaeo.train), as a paper would name it.
KINDS = (("unreadable during the run", "unreadable during the run"), ("truncated", "truncated or corrupt"),
         ("cannot be decoded", "undecodable"), ("empty file", "empty"), ("web page", "not an image"),
         ("not an image", "not an image"), ("too large", "too large"), ("photos cannot be decoded", "unsupported format"),
         ("link to a folder", "symlink loop"), ("same file as", "reached twice through links"),
         ("holds no images", "empty class folder"), ("--min-images", "class with too few images"),
         ("--exclude-class", "class left out on purpose"), ("cannot be read", "unreadable"))


def _kind(reason: str) -> str:
    return next((kind for needle, kind in KINDS if needle in reason), "other")


def _reasons(excluded: List[dict]) -> str:
    """'2 truncated or corrupt, 1 not an image, ...': the exclusions counted by kind."""
    kinds = Counter(_kind(e.get("reason") or "") for e in excluded)
    return ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items(), key=lambda kv: (-kv[1], kv[0])))


def _one_line(text: Optional[str]) -> str:
    return " ".join(str(text).split())


def methods_paragraph(run: dict) -> str:
    data = run.get("data") or {}
    args = run.get("arguments") or {}
    training = run.get("training") or {}
    code = run.get("code") or {}
    software = run.get("software") or {}
    counts = data.get("counts") or {}
    total = sum((counts.get("total") or {}).values())
    n_train = sum((counts.get("train") or {}).values())
    n_val = sum((counts.get("val") or {}).values())
    classes = data.get("classes") or []
    pretrained = run.get("pretrained")
    start = (f"initialised from {pretrained.get('weights')} ImageNet weights (sha256 {pretrained.get('sha256')})"
             if pretrained else "trained from randomly initialised weights")
    opt = training.get("optimizer") or {}
    opt_text = opt.get("name", "the optimiser") + (" (" + ", ".join(f"{k} {v}" for k, v in opt.items() if k != "name") + ")" if len(opt) > 1 else "")
    excluded = data.get("excluded") or []
    dist = run.get("distributed") or {}
    best = run.get("best") or {}
    parts = [
        f"We trained a {args.get('model')} image classifier, {start}, on {total} images in {len(classes)} classes "
        f"({', '.join(classes)}) from {data.get('root_s3_uri') or data.get('root')}.",
        f"The images were split per class into {n_train} for training and {n_val} for validation (stratified, "
        f"{args.get('val_fraction')} held out, seed {args.get('seed')}); identical files (same sha256) were kept out of validation"
        + (f" ({len(data.get('duplicates') or [])} group(s))." if data.get("duplicates") else "."),
        (f"{len(excluded)} file(s) or folder(s) were excluded before training ({_reasons(excluded)}); run.json lists each with its reason."
         if excluded else "No file was excluded."),
        f"Training images were transformed by {_one_line(training.get('train_transforms'))}; validation images by {_one_line(training.get('eval_transforms'))}.",
        f"We optimised {training.get('loss', 'the loss')} with {opt_text}, a {training.get('schedule')}, for {args.get('epochs')} epochs "
        f"with {dist.get('batch_size_per_process', args.get('batch_size'))} images per step per process on {dist.get('world_size', 1)} process(es)"
        + (f", mixed precision {run.get('mixed_precision')}" if run.get("mixed_precision") else ", in float32")
        + (f", early stopping on {args.get('monitor')} after {args.get('patience')} epochs without improvement" if args.get("patience") else "") + ".",
        (f"The best validation accuracy was {best.get('val_acc'):.3f} at epoch {best.get('epoch')}." if best.get("val_acc") is not None else ""),
        f"Data: the manifest of every file (path, class, split, sha256) has sha256 {data.get('manifest_sha256')}.",
        f"Code: archaeo {code.get('archaeo')} (source sha256 {code.get('package_sha256')})"
        + (f" in the container image {run.get('image')}" if run.get("image") else "")
        + f", PyTorch {software.get('torch')}, torchvision {software.get('torchvision')}, Python {software.get('python')}.",
    ]
    return " ".join(p for p in parts if p)


def citation_cff(run: dict, paragraph: str, author: Optional[str]) -> str:
    """Citation File Format 1.2.0: the keys its schema requires (cff-version, message, title, authors) and
    the run's hashes as identifiers of type `other`."""
    data = run.get("data") or {}
    code = run.get("code") or {}
    name = author or run.get("researcher") or "unknown"
    date = (run.get("finished_at") or run.get("started_at") or "")[:10]

    def q(text: str) -> str:
        return json.dumps(text, ensure_ascii=False)  # a JSON string is a valid YAML double-quoted scalar

    model = (run.get("arguments") or {}).get("model")
    title = f"{model} classifier {run.get('run_name')} ({len(data.get('classes') or [])} classes)"
    lines = [
        "cff-version: 1.2.0",
        f"message: {q('If you use this model, please cite it as below.')}",
        "type: software",
        f"title: {q(title)}",
        "authors:",
        f"  - name: {q(name)}",
        f"abstract: {q(paragraph)}",
        "keywords:",
        *[f"  - {q(k)}" for k in ("archaeology", "image classification", "cultural heritage")],
        "identifiers:",
        "  - type: other",
        f"    value: {q('sha256:' + str(data.get('manifest_sha256') or 'unrecorded'))}",
        f"    description: {q('data manifest (every training and validation file with its sha256)')}",
        "  - type: other",
        f"    value: {q('sha256:' + str(code.get('package_sha256')))}",
        f"    description: {q('archaeo ' + str(code.get('archaeo')) + ' source (archaeo-train)')}",
    ]
    if run.get("image"):
        lines += ["  - type: other", f"    value: {q(run['image'])}", f"    description: {q('container image the run used')}"]
    if date:
        lines.append(f"date-released: {q(date)}")
    return "\n".join(lines) + "\n"


def ro_crate(run: dict, paragraph: str, files: List[str]) -> dict:
    """An RO-Crate 1.1 metadata file: the run folder as a Dataset, the training as a CreateAction whose
    instrument is archaeo and whose result is the checkpoint."""
    data = run.get("data") or {}
    code = run.get("code") or {}
    graph = [
        {"@id": "ro-crate-metadata.json", "@type": "CreativeWork", "conformsTo": {"@id": "https://w3id.org/ro/crate/1.1"}, "about": {"@id": "./"}},
        {"@id": "./", "@type": "Dataset", "name": f"archaeo-train run {run.get('run_name')}", "description": paragraph,
         # RO-Crate 1.1 requires datePublished on the root: the run's end (or start) date, else today's.
         "datePublished": (run.get("finished_at") or run.get("started_at") or __import__("datetime").date.today().isoformat())[:10],
         "hasPart": [{"@id": f} for f in files]},
        *[{"@id": f, "@type": "File", "name": f} for f in files],
        {"@id": "#archaeo", "@type": "SoftwareApplication", "name": "archaeo", "version": code.get("archaeo"),
         "identifier": f"sha256:{code.get('package_sha256')}"},
        {"@id": "#data-manifest", "@type": "Dataset", "name": "training and validation images",
         "identifier": f"sha256:{data.get('manifest_sha256')}", "url": data.get("root_s3_uri") or data.get("root")},
        {"@id": "#training", "@type": "CreateAction", "name": "fine-tuning", "instrument": {"@id": "#archaeo"},
         "object": {"@id": "#data-manifest"}, "result": [{"@id": f} for f in files if f.endswith(".pt")],
         "startTime": run.get("started_at"), "endTime": run.get("finished_at")},
    ]
    return {"@context": "https://w3id.org/ro/crate/1.1/context", "@graph": graph}


def cite(run_dir: str, author: Optional[str] = None) -> dict:
    run = _load(run_dir)
    paragraph = methods_paragraph(run)
    files = [f for f in ("run.json", "metrics.jsonl", "best.pt", "last.pt") if os.path.exists(os.path.join(run_dir, f))]
    from .provenance import write_json_atomic, write_text_atomic

    write_text_atomic(os.path.join(run_dir, "METHODS.md"), paragraph + "\n")
    write_text_atomic(os.path.join(run_dir, "CITATION.cff"), citation_cff(run, paragraph, author))
    write_json_atomic(os.path.join(run_dir, "ro-crate-metadata.json"), ro_crate(run, paragraph, files))
    return {"paragraph": paragraph, "files": ["METHODS.md", "CITATION.cff", "ro-crate-metadata.json"]}


def _main(argv: Optional[List[str]]) -> int:
    p = argparse.ArgumentParser(prog="archaeo-cite", description="Write METHODS.md, CITATION.cff and ro-crate-metadata.json for a training run from its run.json.")
    p.add_argument("run_dir", help="an archaeo-train --output-dir")
    p.add_argument("--author", default=None, help="the author named in CITATION.cff (default: the run's researcher)")
    a = p.parse_args(argv)
    result = cite(a.run_dir, a.author)
    print(result["paragraph"])
    print(f"archaeo-cite: wrote {', '.join(os.path.join(a.run_dir, f) for f in result['files'])}")
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    return run_cli("archaeo-cite", _main, argv)


if __name__ == "__main__":
    raise SystemExit(main())
