"""How often does audiotaste's key agree with madmom's CNN key on real clips, and which way do they differ?

Usage::

    python scripts/bench_key_agreement.py [--manifest /work/data/real/manifest.csv] [--split dev] \
        [--source 4q] [--key-model NAME=PATH.safetensors ...]

There are no key labels on most real recordings; madmom's CNN key (Korzeniowski & Widmer 2018,
trained on real records, its own venv: ``scripts/anchors/make_madmom_venv.sh``) is the strongest
open reference we have, so this reads agreement, not accuracy. For every clip of ``--source`` in
``--split`` (default: the 4Q dev clips, 30-s AllMusic previews), each audiotaste key model and madmom
read the whole clip. Printed per system: MIREX against madmom's key, the share of clips read major,
and the clips where the two name the same tonic or its relative but differ in mode, counted both
ways. Session 11 found the shipped model reads minor far more often than madmom does (docs/
BENCHMARKS.md, ``## features``); a model that hears blue notes as major should shrink that count.
"""

from __future__ import annotations

import argparse
import csv
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent / "anchors"))

import score  # noqa: E402
from bench_key_windows import agreement, key_label, madmom, with_key_model  # noqa: E402

from audiotaste.audio import load  # noqa: E402
from audiotaste.features import tonal  # noqa: E402


def ours(path: Path) -> str | None:
    """audiotaste's key of a whole file, as ``analyze`` reads it (22.05 kHz mono)."""
    y, sr = load(path, sr=22050)
    return key_label(tonal.key(y, sr))


def mode_flips(keys: list[str | None], reference: list[str | None]) -> tuple[int, int]:
    """(clips we call minor where the reference calls the same tonic or its relative major,
    clips we call major where it calls the same tonic or its relative minor)."""
    we_minor = we_major = 0
    for ours_name, ref_name in zip(keys, reference, strict=True):
        a = score.parse_key(ours_name) if ours_name else None
        b = score.parse_key(ref_name) if ref_name else None
        if a is None or b is None or a[1] == b[1]:
            continue
        major, minor = (b, a) if a[1] == "minor" else (a, b)
        if minor[0] in (major[0], (major[0] + 9) % 12):  # parallel or relative
            if a[1] == "minor":
                we_minor += 1
            else:
                we_major += 1
    return we_minor, we_major


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--manifest", type=Path, default=Path("/work/data/real/manifest.csv"))
    parser.add_argument("--split", default="dev")
    parser.add_argument("--source", default="4q")
    parser.add_argument("--key-model", action="append", default=[], metavar="NAME=PATH",
                        help="another audiotaste key model (weights file) read beside the installed one")
    args = parser.parse_args(argv)
    with open(args.manifest, newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["split"] == args.split and r["source"] == args.source]
    paths = [(args.manifest.parent / r["path"]).resolve() for r in rows]
    answers = madmom(paths)
    if answers is None:
        print("madmom's venv is missing (scripts/anchors/make_madmom_venv.sh): nothing to compare with")
        return 1
    reference = [answers[str(p)] for p in paths]
    systems = {"audiotaste": [ours(p) for p in paths]}
    with tempfile.TemporaryDirectory() as tmp:
        for spec in args.key_model:
            name, _, weights = spec.partition("=")
            with_key_model(Path(weights), Path(tmp) / f"models-{name}")
            systems[f"audiotaste {name}"] = [ours(p) for p in paths]
    systems["madmom CNN key"] = reference
    print(f"bench_key_agreement: {len(rows)} clips of source {args.source}, split {args.split} ({args.manifest})\n")
    print("| system | MIREX vs madmom | major share | minor where madmom says major (same tonic or relative) "
          "| major where madmom says minor |\n|---|---|---|---|---|")
    for name, keys in systems.items():
        named = [k for k in keys if k]
        major = sum(k.endswith("major") for k in named) / max(len(named), 1)
        we_minor, we_major = mode_flips(keys, reference)
        agree = agreement([{"clip": k} for k in keys], [{"clip": r} for r in reference])
        print(f"| {name} | {agree:.3f} | {major:.2f} | {we_minor} | {we_major} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
