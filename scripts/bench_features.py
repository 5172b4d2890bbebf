#!/usr/bin/env python
"""Benchmark audiotaste's tempo and key estimators against librosa and Essentia on the labelled bench set.

    nice -n 10 .venv/bin/python scripts/bench_features.py --manifest corpus/bench/manifest.csv

Essentia (the ``bench`` extra) need not live in the project's venv: its wheel and ``six`` installed
into a folder of their own (``pip install --no-deps --target /work/benchenv/site essentia six``) and
``PYTHONPATH=/work/benchenv/site`` in front of the command keep the AGPL package out of ``.venv``.

Every method runs in its own fresh process (side by side), one thread, over the same decoded clips
(decoding is not timed). Times are the process's CPU time (``time.process_time``), not wall time: the machine is shared,
and CPU seconds of a one-thread process are what the estimator costs. Reported per subset: tempo Acc1 (within 4 % of the tapped-beat label) and Acc2 (also at x2,
x1/2, x3, x1/3), key MIREX weighted score and exact accuracy, median milliseconds per clip and the
resulting multiple of real time, and the method's peak memory increment (VmHWM after a warm-up run
is reset via /proc/self/clear_refs). Essentia is AGPL: it is used here only, never by the package.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

KEY_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
TEMPO_METHODS = ("audiotaste", "librosa.beat_track", "librosa.tempo", "essentia.RhythmExtractor2013")
KEY_METHODS = ("audiotaste", "librosa.ks_cqt", "essentia.bgate", "essentia.edma", "essentia.temperley")
# the processes to run: name -> what it measures
RUNNERS = ("audiotaste", "librosa", "essentia")

# Krumhansl-Kessler probe-tone profiles (the classic Krumhansl-Schmuckler key finder)
KK_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
KK_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])


def _mem_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _ks_key(chroma_mean: np.ndarray) -> tuple[int, int]:
    best, arg = -2.0, (0, 1)
    for mode, prof in ((1, KK_MAJOR), (0, KK_MINOR)):
        for k in range(12):
            r = float(np.corrcoef(chroma_mean, np.roll(prof, k))[0, 1])
            if r > best:
                best, arg = r, (k, mode)
    return arg


def _make(runner: str):  # -> (setup-free callable(y22, y44) -> dict of results)
    if runner == "audiotaste":
        from audiotaste.features.rhythm import tempo
        from audiotaste.features.spectrum import melspectrogram, stft_power
        from audiotaste.features.tonal import key

        def run(y22: np.ndarray, y44: np.ndarray) -> dict:
            t0 = time.process_time()
            spec = stft_power(y22)
            mel = melspectrogram(spectrum=spec)
            t1 = time.process_time()
            te = tempo(y22, spectrum=spec, mel_db=mel)
            t2 = time.process_time()
            ke = key(y22, spectrum=spec)
            t3 = time.process_time()
            return {"tempo:audiotaste": te.bpm, "meter:audiotaste": te.time_signature,
                    "key:audiotaste": (-1, 1) if ke.key is None else (ke.key, ke.mode), "time:audiotaste.front_end": t1 - t0,
                    "time:audiotaste.tempo": t2 - t1, "time:audiotaste.key": t3 - t2}

        return run
    if runner == "librosa":
        import librosa

        def run(y22: np.ndarray, y44: np.ndarray) -> dict:
            t0 = time.process_time()
            bt, _ = librosa.beat.beat_track(y=y22, sr=22050)
            t1 = time.process_time()
            tt = librosa.feature.tempo(y=y22, sr=22050)
            t2 = time.process_time()
            chroma = librosa.feature.chroma_cqt(y=y22, sr=22050).mean(axis=1)
            k = _ks_key(chroma)
            t3 = time.process_time()
            return {"tempo:librosa.beat_track": float(np.atleast_1d(bt)[0]),
                    "tempo:librosa.tempo": float(np.atleast_1d(tt)[0]), "key:librosa.ks_cqt": k,
                    "time:librosa.beat_track": t1 - t0, "time:librosa.tempo": t2 - t1,
                    "time:librosa.ks_cqt": t3 - t2}

        return run
    if runner == "essentia":
        import essentia

        essentia.log.infoActive = False
        essentia.log.warningActive = False
        import essentia.standard as es

        rhythm = es.RhythmExtractor2013(method="multifeature")
        keyx = {p: es.KeyExtractor(profileType=p) for p in ("bgate", "edma", "temperley")}

        def run(y22: np.ndarray, y44: np.ndarray) -> dict:
            out: dict = {}
            sig = np.ascontiguousarray(y44, dtype=np.float32)
            t0 = time.process_time()
            bpm = rhythm(sig)[0]
            out["time:essentia.RhythmExtractor2013"] = time.process_time() - t0
            out["tempo:essentia.RhythmExtractor2013"] = float(bpm)
            for p, algo in keyx.items():
                t0 = time.process_time()
                k, scale, _strength = algo(sig)
                out[f"time:essentia.{p}"] = time.process_time() - t0
                tonic = KEY_NAMES.index(_sharp(k)) if k else -1
                out[f"key:essentia.{p}"] = (tonic, 1 if scale == "major" else 0)
            return out

        return run
    raise ValueError(runner)


def _sharp(name: str) -> str:
    flats = {"Db": "C#", "Eb": "D#", "Gb": "F#", "Ab": "G#", "Bb": "A#", "Cb": "B", "Fb": "E"}
    return flats.get(name, name)


def _worker(runner: str, paths: list[str], queue: mp.Queue) -> None:
    os.environ["OMP_NUM_THREADS"] = "1"
    import soxr
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(1)
    threadpool_limits(1)  # numpy's BLAS too: its threads thrash on a shared machine
    from audiotaste.audio import load

    run = _make(runner)
    warm, _ = load(paths[0], sr=44100)
    run(soxr.resample(warm, 44100, 22050), warm)  # warm-up: JIT, caches, model loading
    rss0 = _mem_kb("VmRSS")
    ok = _reset_peak()
    rows = []
    for p in paths:
        y44, _ = load(p, sr=44100)
        y22 = soxr.resample(y44, 44100, 22050)
        res = run(y22, y44)
        res["duration_s"] = y44.size / 44100
        rows.append(res)
    peak = _mem_kb("VmHWM") if ok else _mem_kb("VmHWM")
    queue.put((runner, rows, (peak - rss0) / 1024 if ok else float("nan"), peak / 1024))


def acc(est: np.ndarray, ref: np.ndarray, factors: tuple[float, ...]) -> float:
    hits = np.zeros(est.shape, bool)
    for f in factors:
        hits |= np.abs(est - f * ref) <= 0.04 * f * ref
    return float(hits.mean()) if hits.size else float("nan")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--manifest", type=Path, default=ROOT / "corpus/bench/manifest.csv")
    p.add_argument("--limit", type=int, default=None, help="clips per subset (default all)")
    p.add_argument("--runners", default=",".join(RUNNERS))
    p.add_argument("--csv", type=Path, default=None, help="also write per-clip results here")
    args = p.parse_args()
    from _features_cache import read_manifest
    from train_key import mirex

    df = read_manifest(args.manifest)
    df["subset"] = df["subset"].fillna("unlabelled") if "subset" in df else "unlabelled"
    if args.limit:
        df = df.groupby("subset", group_keys=False).head(args.limit).reset_index(drop=True)
    paths = list(df["abspath"])
    ctx = mp.get_context("spawn")
    mem: dict[str, tuple[float, float]] = {}
    # the runners run side by side (CPU time and peak memory are per process, so they do not mix)
    t0 = time.time()
    q: mp.Queue = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(r, paths, q)) for r in args.runners.split(",")]
    for proc in procs:
        proc.start()
    for _ in procs:
        name, rows, inc, peak = q.get()
        mem[name] = (inc, peak)
        res = pd.DataFrame(rows)
        for c in res.columns:
            df[c] = res[c].to_numpy()
        print(f"[{name}: done after {time.time() - t0:.0f} s]", file=sys.stderr, flush=True)
    for proc in procs:
        proc.join()

    subsets = [*sorted(df["subset"].unique()), "all"]
    ref_key = ((1 - df["mode"].astype(int)) * 12 + df["key"].astype(int)).to_numpy()
    lines = [f"bench: {len(df)} clips ({', '.join(f'{s} {int((df.subset == s).sum())}' for s in subsets[:-1])}), "
             f"median duration {df['duration_s'].median():.1f} s", ""]
    lines.append("Tempo (Acc1 / Acc2)")
    lines.append("| method | " + " | ".join(subsets) + " |")
    lines.append("|---" * (len(subsets) + 1) + "|")
    for m in TEMPO_METHODS:
        col = f"tempo:{m}"
        if col not in df:
            continue
        cells = []
        for s in subsets:
            d = df if s == "all" else df[df.subset == s]
            est, ref = d[col].to_numpy(float), d["tempo_bpm"].to_numpy(float)
            cells.append(f"{acc(est, ref, (1.0,)):.3f} / {acc(est, ref, (1.0, 2.0, 0.5, 3.0, 1 / 3)):.3f}")
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    lines += ["", "Key (MIREX weighted / exact)"]
    lines.append("| method | " + " | ".join(subsets) + " |")
    lines.append("|---" * (len(subsets) + 1) + "|")
    for m in KEY_METHODS:
        col = f"key:{m}"
        if col not in df:
            continue
        pred = np.array([(1 - md) * 12 + k if k >= 0 else -100 for k, md in df[col]])
        cells = []
        for s in subsets:
            sel = np.ones(len(df), bool) if s == "all" else (df.subset == s).to_numpy()
            cells.append(f"{mirex(pred[sel], ref_key[sel]):.3f} / {float((pred[sel] == ref_key[sel]).mean()):.3f}")
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    if "hard_kind" in df and df["hard_kind"].notna().any():
        hard = df[df["hard_kind"].notna()]
        t_methods = [m for m in TEMPO_METHODS if f"tempo:{m}" in df]
        k_methods = [m for m in KEY_METHODS if f"key:{m}" in df]
        lines += ["", "Hard cases by kind (tempo Acc1 | key MIREX)",
                  "| kind | n | " + " | ".join(t_methods) + " | " + " | ".join(k_methods) + " |",
                  "|---" * (2 + len(t_methods) + len(k_methods)) + "|"]
        for kind, d in hard.groupby("hard_kind"):
            t_cells = [f"{acc(d[f'tempo:{m}'].to_numpy(float), d['tempo_bpm'].to_numpy(float), (1.0,)):.2f}"
                       for m in t_methods]
            rk = ((1 - d["mode"].astype(int)) * 12 + d["key"].astype(int)).to_numpy()
            k_cells = []
            for m in k_methods:
                pk = np.array([(1 - md) * 12 + k if k >= 0 else -100 for k, md in d[f"key:{m}"]])
                k_cells.append(f"{mirex(pk, rk):.2f}")
            lines.append(f"| {kind} | {len(d)} | " + " | ".join(t_cells) + " | " + " | ".join(k_cells) + " |")
    if "meter:audiotaste" in df and "meter" in df:
        from train_tempo import meter_class

        truth = np.array([{0: 3, 1: 4}.get(meter_class(m), -1) for m in df["meter"]])
        known = truth > 0
        got = df["meter:audiotaste"].to_numpy()[known] == truth[known]
        lines += ["", f"Time signature (audiotaste, 3 vs 4 with 6/8 and 12/8 as 4): "
                      f"{got.mean():.3f} on {known.sum()} clips; triple clips {int((truth == 3).sum())}, "
                      f"of which read 3: {int(((df['meter:audiotaste'].to_numpy() == 3) & (truth == 3)).sum())}"]
    lines += ["", "Speed and memory (one thread, CPU time; decoding excluded)",
              "| method | median ms / clip | x real time | peak memory increment MB |", "|---|---|---|---|"]
    dur = df["duration_s"].to_numpy(float)
    for c in [c for c in df.columns if c.startswith("time:")]:
        t = df[c].to_numpy(float)
        runner = c.split(":")[1].split(".")[0]
        inc = mem.get(runner, (float("nan"), 0.0))[0]
        lines.append(f"| {c[5:]} | {1000 * np.median(t):.1f} | {np.median(dur / t):.0f} | {inc:.0f} (process) |")
    if args.csv:
        df.to_csv(args.csv, index=False)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
