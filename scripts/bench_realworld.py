"""Benchmark: musicnn in torch (ours) against the original musicnn in TensorFlow, side by side in one run.

Usage::

    python scripts/bench_realworld.py [--cache DIR] [--tf-python /work/tfenv/bin/python] [--examples DIR]

It prints five tables:

1. fixtures: max |difference| of tag probabilities / embeddings between our port and TensorFlow on the
   committed reference patches (``tests/fixtures/musicnn/reference.npz``);
2. examples: the top tags of the example songs of musicnn's README (``joram-moments_of_clarity-08-
   solipsism-59-88.mp3`` and ``TRWJAZW128F42760DD_test.mp3`` from the musicnn GitHub repository, not
   shipped in the wheel; pass their folder with ``--examples``) from our port, from the README, and from
   TensorFlow run live;
3. speed on one thread, × real time (audio seconds per CPU second, medians of 5; CPU time rather than
   wall time because the benchmark machine is shared): our decode / front end / network vs musicnn's
   librosa front end / TensorFlow network on the same files (both single-threaded);
4. peak resident memory of each process;
5. the shipped student (``models/musicnn-msd-student``) against musicnn-msd on the held-out SuperTux
   soundtrack: agreement and speed, as ``scripts/bench_distill.py`` (whose options it takes).

TensorFlow runs in a separate throw-away environment (see ``scripts/make_musicnn_fixtures.py``); without
``--tf-python`` the TensorFlow columns are left empty. The weights come from the model cache
(``audiotaste models fetch musicnn``); nothing is downloaded here.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_distill  # noqa: E402

sys.path.insert(0, str(ROOT))

from audiotaste.audio import load  # noqa: E402
from audiotaste.tagger.musicnn import (  # noqa: E402
    SR,
    load_musicnn,
    musicnn_logmel,
    musicnn_patches,
)

MODELS = {"musicnn-mtt": "MTT_musicnn", "musicnn-msd": "MSD_musicnn"}
# Published in musicnn's README (MTT_musicnn, top_tags with the default 3-s patches, no overlap).
README_TOP = {
    ("joram-moments_of_clarity-08-solipsism-59-88.mp3", "musicnn-mtt"): [
        "techno", "electronic", "synth", "fast", "beat", "drums", "no vocals", "no vocal", "dance", "ambient",
    ],
    ("TRWJAZW128F42760DD_test.mp3", "musicnn-mtt"): ["guitar", "piano", "fast"],
}  # fmt: skip


def median_time(fn: Any, repeats: int = 5) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(repeats):
        t0 = time.process_time()
        out = fn()
        times.append(time.process_time() - t0)
    return float(np.median(times)), out


def top(labels: list[str], probs: np.ndarray, n: int) -> list[str]:
    return [labels[i] for i in np.argsort(-probs, kind="stable")[:n]]


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--cache", default=None, help="model cache with musicnn-mtt/ and musicnn-msd/")
    ap.add_argument("--tf-python", default=None, help="python of an env with TensorFlow + musicnn")
    ap.add_argument(
        "--examples", default="/work/data/musicnn_examples", help="folder of the README songs"
    )
    bench_distill.add_arguments(ap.add_argument_group("5. student vs teacher (bench_distill.py)"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    taggers = {name: load_musicnn(name, args.cache) for name in MODELS}
    files = sorted(Path(args.examples).glob("*.mp3"))

    print("## 1. Port vs TensorFlow on the committed fixtures (6 patches)\n")
    with np.load(ROOT / "tests/fixtures/musicnn/reference.npz", allow_pickle=False) as z:
        ref = {k: z[k] for k in z.files}
    print("| model | max abs diff, probabilities | max abs diff, penultimate (200-d) |")
    print("|---|---|---|")
    for name, tagger in taggers.items():
        p = tagger.predict_patches(ref["patches"])
        e = tagger.embed_patches(ref["patches"])
        key = MODELS[name][:3]
        dp = np.abs(p - ref[f"{key}_probs"]).max()
        de = np.abs(e - ref[f"{key}_penultimate"]).max()
        print(f"| {name} | {dp:.1e} | {de:.1e} |")

    tf: dict[str, Any] = {}
    if args.tf_python and files:
        env = dict(
            os.environ, TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL="3", OMP_NUM_THREADS="1"
        )
        cmd = [
            args.tf_python,
            str(ROOT / "scripts/make_musicnn_fixtures.py"),
            "--tags",
            *map(str, files),
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
        tf = json.loads(proc.stdout)

    print("\n## 2. Top tags of musicnn's README examples (track mean over 3-s patches)\n")
    print("| file | model | ours | README | TensorFlow (live) | max abs diff of mean probs vs TF |")
    print("|---|---|---|---|---|---|")
    ours: dict[str, dict[str, Any]] = {}
    for f in files:
        y, _ = load(f, sr=SR)
        duration = len(y) / SR
        t_decode, _ = median_time(lambda f=f: load(f, sr=SR))
        t_front, patches = median_time(lambda y=y: musicnn_patches(musicnn_logmel(y)))
        ours[f.name] = {
            "duration": duration,
            "decode": t_decode,
            "front": t_front,
            "n": len(patches),
        }
        for name, tagger in taggers.items():
            t_net, probs = median_time(lambda t=tagger, p=patches: t.predict_patches(p))
            ours[f.name][name] = t_net
            mean = probs.mean(axis=0)
            labels = tagger.labels["tag"]
            readme = README_TOP.get((f.name, name))
            n = len(readme) if readme else 5
            mine = top(labels, mean, n)
            tf_mean = np.array(tf["files"][str(f)][MODELS[name]]["mean"]) if tf else None
            tf_top = ", ".join(top(labels, tf_mean, n)) if tf_mean is not None else "-"
            diff = f"{np.abs(mean - tf_mean).max():.1e}" if tf_mean is not None else "-"
            rd = ", ".join(readme) if readme else "(not published)"
            same = " ✓" if readme == mine else ""
            print(
                f"| {f.name[:24]} | {name} | {', '.join(mine)}{same} | {rd} | {tf_top} | {diff} |"
            )

    print("\n## 3. Speed on one thread, × real time in CPU time (higher is faster; medians of 5)\n")
    print("| file | audio s | patches | ours: decode | ours: front end | ours: network MTT | "
          "TF: librosa front end (incl. decode) | TF: network MTT, 1 patch/run (musicnn's) | "
          "TF: network MTT, all patches in 1 run | ours vs faster TF network |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|")
    for f in files:
        o = ours[f.name]
        d = o["duration"]
        row = [f.name[:24], f"{d:.1f}", str(o["n"]), f"{d / o['decode']:.0f}×", f"{d / o['front']:.0f}×",
               f"{d / o['musicnn-mtt']:.0f}×"]  # fmt: skip
        if tf:
            t = tf["files"][str(f)]
            m = t["MTT_musicnn"]
            best = min(m["network_s"], m["network_full_batch_s"])
            row += [f"{d / t['front_end_s']:.0f}×", f"{d / m['network_s']:.0f}×",
                    f"{d / m['network_full_batch_s']:.0f}×", f"{best / o['musicnn-mtt']:.2f}×"]  # fmt: skip
        else:
            row += ["-", "-", "-", "-"]
        print("| " + " | ".join(row) + " |")
    total_audio = sum(o["duration"] for o in ours.values())
    total_ours = sum(o["decode"] + o["front"] + o["musicnn-mtt"] for o in ours.values())
    if not ours:
        print(f"\n(no example songs in {args.examples}: sections 2 and 3 are empty)")
    else:
        print(
            f"\nours end to end (decode + front end + MTT network): {total_audio / total_ours:.0f}× real time"
        )
    if tf and ours:
        total_tf = sum(
            t["front_end_s"] + t["MTT_musicnn"]["network_s"] for t in tf["files"].values()
        )
        print(
            f"musicnn + TensorFlow end to end (one patch per run, as its extractor): {total_audio / total_tf:.0f}× real time"
        )

    print("\n## 4. Peak resident memory (whole process)\n")
    print(
        f"ours (torch, both models loaded): {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB"
    )
    if tf:
        print(f"musicnn + TensorFlow: {tf['peak_rss_mb']:.0f} MB")

    print(f"\n## 5. The shipped student ({args.student}) vs its teacher, {args.split} soundtrack\n")
    if Path(args.manifest).is_file():
        bench_distill.run(args)
    else:
        print(f"skipped: no distillation manifest at {args.manifest} "
              "(scripts/distill_musicnn.py manifest, after installing the soundtracks)")


if __name__ == "__main__":
    main()
