"""Does the key of any 60 s of a song match the song's key? audiotaste beside madmom's CNN key.

Usage::

    python scripts/bench_key_windows.py [--manifest /work/data/real/manifest.csv] [--split dev] [--songs 60] \
        [--key-model NAME=PATH.safetensors ...]

Issue 17 asks that any 60 s of a piece that does not modulate give the piece's key. For the first
``--songs`` charts of the split that last at least 130 s, the first 120 s are the reference excerpt
and its 60-s windows from 0, 30 and 60 s are read by audiotaste's ``tonal.key`` and by madmom's
``CNNKeyRecognitionProcessor`` (its own venv, ``scripts/anchors/make_madmom_venv.sh``; skipped when
absent); ``--key-model`` adds other audiotaste key models (weights files) beside the installed one, in
the same run. Printed: the share of windows whose key equals the same system's key of the 120 s, the
share of songs whose three windows all do, and each system's MIREX score against madmom's key on the
same excerpts (agreement, not accuracy: there are no key labels). No labels are needed, so any split can be read; the
charts rarely modulate in their first two minutes, but some do, so neither system can reach 1.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent / "anchors"))

import runners  # noqa: E402
import score  # noqa: E402
from train_key import mirex  # noqa: E402

from audiotaste.audio import load  # noqa: E402
from audiotaste.features import _models, tonal  # noqa: E402

WINDOWS = ("w0", "w30", "w60")
MADMOM_KEYS = """
import json, sys
from madmom.audio.signal import Signal
from madmom.features.key import CNNKeyRecognitionProcessor, key_prediction_to_label
key = CNNKeyRecognitionProcessor()
paths = sys.stdin.read().split()
print(json.dumps({p: str(key_prediction_to_label(key(Signal(p, num_channels=1, sample_rate=44100)))) for p in paths}))
"""


def write_excerpts(rows: list[dict], folder: Path) -> list[dict[str, Path]]:
    """Per song, the first 120 s and its three 60-s windows as 44.1 kHz WAV files."""
    songs = []
    for i, row in enumerate(rows):
        y, sr = load(row["abspath"], sr=44100)
        y = y[: 120 * sr]
        parts = {"whole": y} | {w: y[int(w[1:]) * sr : (int(w[1:]) + 60) * sr] for w in WINDOWS}
        paths = {}
        for name, signal in parts.items():
            paths[name] = folder / f"{i:03d}_{name}.wav"
            sf.write(paths[name], signal, sr)
        songs.append(paths)
    return songs


def key_label(est: tonal.KeyEstimate) -> str | None:
    """``"F# minor"``, madmom's spelling (``score.parse_key`` reads both); None without a key."""
    return None if est.key is None else f"{est.key_name} {'major' if est.mode == 1 else 'minor'}"


def ours(path: Path) -> str | None:
    y, sr = sf.read(path, dtype="float32")
    return key_label(tonal.key(y, sr))


def madmom(paths: list[Path]) -> dict[str, str] | None:
    anchor = next(a for a in runners.anchors() if a.name == "madmom")
    if anchor.missing() is not None:
        return None
    done = subprocess.run([str(anchor.python()), "-c", MADMOM_KEYS], input=" ".join(map(str, paths)),
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def with_key_model(path: Path, folder: Path) -> None:
    """Make ``tonal.key`` read the key weights at ``path`` (a models folder holding only them)."""
    (folder / "features").mkdir(parents=True, exist_ok=True)
    shutil.copy(path, folder / "features" / "key.safetensors")
    os.environ["AUDIOTASTE_MODELS_DIR"] = str(folder)
    _models.load_key_net.cache_clear()


def agreement(keys: list[dict[str, str | None]], reference: list[dict[str, str | None]]) -> float:
    """MIREX score of ``keys`` against ``reference`` over every excerpt both name a key for."""
    def index(name: str | None) -> int:
        parsed = score.parse_key(name) if name else None
        return -1 if parsed is None else parsed[0] + (12 if parsed[1] == "minor" else 0)

    pairs = [(index(k[p]), index(r[p])) for k, r in zip(keys, reference, strict=True) for p in k]
    pairs = [(a, b) for a, b in pairs if b >= 0]
    return mirex(np.array([a for a, _ in pairs]), np.array([b for _, b in pairs])) if pairs else float("nan")


def stability(keys: list[dict[str, str | None]]) -> tuple[float, float, int]:
    """(share of windows with the whole's key, share of songs with all three, songs counted)."""
    same = np.array([[k[w] == k["whole"] for w in WINDOWS] for k in keys if k["whole"] is not None])
    return (float(same.mean()), float(same.all(axis=1).mean()), len(same)) if same.size else (0.0, 0.0, 0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--manifest", type=Path, default=Path("/work/data/real/manifest.csv"))
    parser.add_argument("--split", default="dev")
    parser.add_argument("--songs", type=int, default=60)
    parser.add_argument("--key-model", action="append", default=[], metavar="NAME=PATH",
                        help="another audiotaste key model (weights file) read beside the installed one")
    args = parser.parse_args(argv)
    with open(args.manifest, newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["split"] == args.split and r["tempo_bpm"]
                and float(r["duration_s"]) >= 130][: args.songs]
    for r in rows:
        r["abspath"] = str((args.manifest.parent / r["path"]).resolve())
    with tempfile.TemporaryDirectory() as tmp:
        songs = write_excerpts(rows, Path(tmp))
        systems = {"audiotaste": [{k: ours(p) for k, p in s.items()} for s in songs]}
        for spec in args.key_model:
            name, _, path = spec.partition("=")
            with_key_model(Path(path), Path(tmp) / f"models-{name}")
            systems[f"audiotaste {name}"] = [{k: ours(p) for k, p in s.items()} for s in songs]
        answers = madmom([p for s in songs for p in s.values()])
        if answers is not None:
            systems["madmom CNN key"] = [{k: answers[str(p)] for k, p in s.items()} for s in songs]
    print(f"bench_key_windows: {len(rows)} songs of split {args.split} ({args.manifest})\n")
    reference = systems.get("madmom CNN key")
    print("| system | windows with the 120-s key | songs with all three | songs | MIREX vs madmom |\n"
          "|---|---|---|---|---|")
    for name, keys in systems.items():
        windows, all_three, n = stability(keys)
        agree = "—" if reference is None else f"{agreement(keys, reference):.3f}"
        print(f"| {name} | {windows:.3f} | {all_three:.3f} | {n} | {agree} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
