#!/usr/bin/env python
"""Render Bach chorales for training the key and tempo models (compositions disjoint from the bench).

    nice -n 10 .venv/bin/python scripts/make_chorales.py --out corpus/chorales --bench corpus/bench/manifest.csv

The training corpus (``make_corpus.py --preset train``) has no chorales, yet the bench set has a chorale
subset (four-voice Bach from music21's offline corpus, opening 20-30 s, key from the score). This
script renders the *other* usable chorales the same way (``corpus.bench.chorale_tracks``), so the
models see that style in training. A chorale is left out when the bench uses it or when its soprano's
opening (first 12 intervals) equals that of a bench chorale (the same hymn tune harmonised in another
cantata). Splits follow the corpus's font rule: ``train`` clips use the four training fonts in turn,
``val`` clips (every 6th composition) the OPL-3 font; no test split. Each composition is rendered
``--renders`` times (different transposition, tempo, length, instruments and augmentation).
"""

from __future__ import annotations

import argparse
import math
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, cast

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpus.bench import chorale_info, chorale_paths  # noqa: E402
from corpus.manifest import COLUMNS, Manifest  # noqa: E402
from corpus.pipeline import render_clip  # noqa: E402
from corpus.plan import TRAIN_FONTS, VAL_FONTS, ClipSpec, _aug, _pick  # noqa: E402
from corpus.theory import MOODS  # noqa: E402

#: seed-space tag of these clips (the corpus presets use 1-3)
_PRESET = 11


def soprano_intervals(path: str, n: int = 12) -> tuple[int, ...]:
    """The first ``n`` melodic intervals of the top part, semitones (transposition-invariant)."""
    from music21 import converter

    score = cast(Any, converter.parse(path)).stripTies()
    pitches = [n_.pitches[-1].midi for n_ in score.parts[0].flatten().notes][: n + 1]
    return tuple(int(b - a) for a, b in zip(pitches[:-1], pitches[1:], strict=True))


def _info(path: str) -> tuple[str, tuple[int, int, str, float] | None, tuple[int, ...]]:
    info = chorale_info(path)
    return path, info, soprano_intervals(path) if info is not None else ()


def plan(paths: list[tuple[str, tuple[int, int, str, float]]], renders: int, seed: int) -> list[ClipSpec]:
    """Clip specs as ``corpus.bench._plan_chorale`` makes them, with training splits and fonts."""
    specs = []
    for j, (path, (tonic, mode, meter, quarters)) in enumerate(paths):
        split = "val" if j % 6 == 5 else "train"
        for r in range(renders):
            cs = int(np.random.SeedSequence([_PRESET, seed, j, r]).generate_state(1)[0])
            rng = np.random.default_rng(cs)
            transpose = int(rng.integers(-5, 7))
            tempo = float(rng.integers(60, 97))
            duration = float(round(min(rng.uniform(20.0, 30.0), quarters * 60.0 / tempo), 2))
            mood = next(m for m in MOODS if m.moods == (("tender",) if mode == 1 else ("sad",)))
            velocity = float(rng.uniform(0.6, 0.9))
            num = int(meter.split("/")[0])
            fonts = TRAIN_FONTS if split == "train" else VAL_FONTS
            specs.append(ClipSpec(
                clip_id=f"chorale-{seed}-{j:03d}-{r}", index=j, seed=cs, split=split, genre="classical",
                moods=mood.moods, groove="@chorale", variant=path, extra="", own_style="chorale",
                meter=meter, mma_time=num, beats_per_tap=1.0, subdiv=2, tempo_bpm=tempo,
                key=(tonic + transpose) % 12, mode=mode, progression=((0, ""),), chords_per_bar=1,
                bars=max(1, math.ceil(duration / (num * 60.0 / tempo))), duration_s=duration,
                velocity=velocity, register=(36, 84), density="medium",
                articulation=float(rng.uniform(0.85, 1.0)), lead_program=int(_pick(rng, (40, 68, 73, 56))),
                remap_p=0.0, drop_drums=False, soundfont=fonts[(j * renders + r) % len(fonts)],
                aug=_aug(rng, velocity), subset="chorales", transpose=transpose))
    return specs


def _render(args: tuple[ClipSpec, Path]) -> dict | str:
    spec, root = args
    try:
        return render_clip(spec, root, True)
    except Exception as e:  # one bad score must not stop the run
        return f"{spec.clip_id}: {type(e).__name__}: {e}"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--bench", type=Path, required=True, help="the bench manifest (its chorales are left out)")
    p.add_argument("--renders", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=1)
    args = p.parse_args()
    import pandas as pd

    bench = pd.read_csv(args.bench)
    bench_paths = set(bench.loc[bench["subset"] == "chorales", "groove"])
    with ProcessPoolExecutor(args.workers) as pool:
        infos = list(pool.map(_info, chorale_paths(), chunksize=8))
    bench_tunes = {iv for path, info, iv in infos if path in bench_paths}
    usable = [(path, info) for path, info, iv in infos
              if info is not None and path not in bench_paths and iv not in bench_tunes]
    print(f"{len(infos)} chorales, {sum(i is not None for _, i, _ in infos)} with a clear key, "
          f"{len(bench_paths)} used by the bench, {len(usable)} left (same tune as a bench chorale "
          f"also left out)", flush=True)
    specs = plan(usable, args.renders, args.seed)
    manifest = Manifest(args.out, COLUMNS)
    done = manifest.done()
    todo = [s for s in specs if s.clip_id not in done]
    failures = 0
    try:
        with ProcessPoolExecutor(args.workers) as pool:
            for i, row in enumerate(pool.map(_render, [(s, args.out) for s in todo], chunksize=2)):
                if isinstance(row, str):
                    failures += 1
                    print("failed:", row, flush=True)
                else:
                    manifest.append(row)
                if (i + 1) % 50 == 0:
                    print(f"  {i + 1}/{len(todo)}", flush=True)
    finally:
        manifest.close()
    print(f"rendered {len(todo) - failures} clips, {failures} failed -> {manifest.path}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
