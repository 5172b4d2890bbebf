"""Speed and memory of ``audiotaste.analyze`` beside the librosa pipeline, in one run.

    python scripts/bench_speed.py [--minutes 3] [--repeats 5] [--long-minutes 60]

Measures, on one thread:
- ``analyze`` of a 3-min 44.1 kHz stereo OGG Vorbis file (decode → descriptors, tags when a model is
  installed), × real time, median of repeats, each run paired with a run of:
- the librosa pipeline on the same file: ``librosa.load`` + ``beat.beat_track`` + ``chroma_cqt`` with
  Krumhansl–Schmuckler key templates (numba warm-up excluded: it is timed after one untimed call);
  the ratio is the median of the pairs' ratios, by wall and by CPU seconds (``time.process_time``);
- decoding alone (the floor);
- peak RSS of a fresh process analysing a ``--long-minutes`` file;
- cold start of ``audiotaste analyze --json`` on a 30-s clip (a fresh process, imports included).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402

SR = 44100


def synth_song(seconds: float, seed: int = 0) -> np.ndarray:
    """A stereo test song: a I–vi–IV–V progression, bass, kick/snare/hat at 112 BPM."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    t = np.arange(n) / SR
    beat = 60.0 / 112
    chords = [(60, 64, 67), (57, 60, 64), (53, 57, 60), (55, 59, 62)]
    y = np.zeros(n, np.float32)
    bar = 4 * beat
    for i, start in enumerate(np.arange(0, seconds, bar)):
        a, b = int(start * SR), min(n, int((start + bar) * SR))
        seg = t[a:b] - start
        env = np.exp(-seg * 1.5)
        for note in chords[i % 4]:
            f = 440 * 2 ** ((note - 69) / 12)
            y[a:b] += 0.08 * env * (np.sin(2 * np.pi * f * seg) + 0.3 * np.sin(4 * np.pi * f * seg))
        f_bass = 440 * 2 ** ((chords[i % 4][0] - 24 - 69) / 12)
        y[a:b] += 0.15 * env * np.sin(2 * np.pi * f_bass * seg)
    for k, start in enumerate(np.arange(0, seconds, beat / 2)):
        a = int(start * SR)
        m = min(n - a, 4000)
        if m <= 0:
            break
        if k % 4 == 0:
            y[a : a + m] += 0.5 * np.exp(-np.arange(m) / 600) * np.sin(2 * np.pi * 55 * np.arange(m) / SR)
        elif k % 4 == 2:
            y[a : a + m] += 0.25 * np.exp(-np.arange(m) / 900) * rng.standard_normal(m)
        y[a : a + min(m, 1500)] += 0.05 * np.exp(-np.arange(min(m, 1500)) / 200) * rng.standard_normal(min(m, 1500))
    y = np.tanh(1.2 * y).astype(np.float32)
    return np.stack([y, np.roll(y, 200)])


def write_ogg(path: Path, y: np.ndarray) -> Path:
    # libsndfile can crash writing a long OGG Vorbis in one call: write in blocks.
    with sf.SoundFile(path, "w", samplerate=SR, channels=y.shape[0], format="OGG", subtype="VORBIS") as f:
        for start in range(0, y.shape[1], 1 << 16):
            f.write(y[:, start : start + (1 << 16)].T)
    return path


def write_long_ogg(path: Path, minutes: float) -> Path:
    """A ``minutes``-long stereo OGG: one synthetic minute repeated, written block by block."""
    minute = synth_song(60.0, seed=2)
    with sf.SoundFile(path, "w", samplerate=SR, channels=2, format="OGG", subtype="VORBIS") as f:
        for _ in range(int(minutes)):
            for start in range(0, minute.shape[1], 1 << 16):
                f.write(minute[:, start : start + (1 << 16)].T)
    return path


def librosa_pipeline(path: Path) -> tuple[float, str]:
    import librosa

    y, sr = librosa.load(path, sr=22050, mono=True)
    tempo, _ = librosa.beat.beat_track(y=y, sr=sr)
    chroma = librosa.feature.chroma_cqt(y=y, sr=sr).mean(axis=1)
    major = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
    minor = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
    scores = [np.corrcoef(np.roll(p, k), chroma)[0, 1] for p in (major, minor) for k in range(12)]
    best = int(np.argmax(scores))
    return float(np.atleast_1d(tempo)[0]), f"{best % 12}{'maj' if best < 12 else 'min'}"


def timed(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """Median wall seconds of ``repeats`` calls, and the last call's result."""
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def paired(fn_a: Callable[[], Any], fn_b: Callable[[], Any], repeats: int) -> dict[str, Any]:
    """Run ``fn_a`` and ``fn_b`` alternately ``repeats`` times, timing each call by wall and by CPU
    clock; medians per function and the median of the per-pair ratios ``b / a``.

    Alternating matters on a shared machine whose speed drifts: a pair shares its moment, so a
    slow minute slows both sides of the ratio instead of one.
    """
    rows: list[list[float]] = []
    outs: list[Any] = []
    for _ in range(repeats):
        row, outs = [], []
        for fn in (fn_a, fn_b):
            w, c = time.perf_counter(), time.process_time()
            outs.append(fn())
            row += [time.perf_counter() - w, time.process_time() - c]
        rows.append(row)
    cols = list(zip(*rows, strict=True))
    return {
        "wall_a": statistics.median(cols[0]), "cpu_a": statistics.median(cols[1]),
        "wall_b": statistics.median(cols[2]), "cpu_b": statistics.median(cols[3]),
        "wall_ratio": statistics.median(b / a for a, b in zip(cols[0], cols[2], strict=True)),
        "cpu_ratio": statistics.median(b / a for a, b in zip(cols[1], cols[3], strict=True)),
        "out_a": outs[0], "out_b": outs[1],
    }


def peak_rss_of_analyze(path: Path, options: str = "") -> float:
    """Peak RSS (MB) of a fresh process running ``audiotaste.analyze(path, <options>)``."""
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss across fork+exec, so a child would report ours.
    code = (
        "import torch; torch.set_num_threads(1); import audiotaste; "
        f"audiotaste.analyze({str(path)!r}{', ' + options if options else ''}); "
        "print([int(l.split()[1]) / 1024 for l in open('/proc/self/status') if l.startswith('VmHWM')][0])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--long-minutes", type=float, default=60.0)
    args = parser.parse_args()

    import torch

    torch.set_num_threads(1)
    import audiotaste
    from audiotaste.audio import load

    with tempfile.TemporaryDirectory() as tmp:
        song = write_ogg(Path(tmp) / "song.ogg", synth_song(args.minutes * 60))
        clip = write_ogg(Path(tmp) / "clip.ogg", synth_song(30.0, seed=1))
        seconds = args.minutes * 60
        audiotaste.analyze(song)  # warm-up (model load, caches)
        t_decode, _ = timed(lambda: load(song, sr=22050), args.repeats)
        librosa_pipeline(clip)  # numba JIT warm-up, not timed
        pair = paired(lambda: audiotaste.analyze(song), lambda: librosa_pipeline(song), args.repeats)
        t_ours, t_librosa = pair["wall_a"], pair["wall_b"]
        result, lib_out = pair["out_a"], pair["out_b"]
        t0 = time.perf_counter()
        subprocess.run([str(Path(sys.executable).parent / "audiotaste"), "analyze", str(clip), "--json"],
                       capture_output=True, check=True)
        t_cold = time.perf_counter() - t0
        rss = peak_rss_of_analyze(write_long_ogg(Path(tmp) / "long.ogg", args.long_minutes))

    a = result
    print(f"# bench_speed  {time.strftime('%Y-%m-%d')}  {args.minutes:g}-min 44.1 kHz stereo OGG, 1 thread, "
          f"median of {args.repeats}")
    print(f"{'pipeline':<34}{'seconds':>9}{'x real time':>13}   result")
    print(f"{'decode + resample only':<34}{t_decode:>9.3f}{seconds / t_decode:>13.0f}")
    print(f"{'audiotaste.analyze':<34}{t_ours:>9.3f}{seconds / t_ours:>13.0f}   "
          f"{a.tempo_bpm:.1f} BPM, key {a.key_name} {'maj' if a.mode else 'min'}, {a.loudness_lufs:.1f} LUFS, "
          f"tags={'yes' if a.tags else 'no'}")
    print(f"{'librosa load+beat_track+chroma_cqt':<34}{t_librosa:>9.3f}{seconds / t_librosa:>13.0f}   "
          f"{lib_out[0]:.1f} BPM, key {lib_out[1]}")
    print(f"speed ratio audiotaste / librosa (median of paired runs): {pair['wall_ratio']:.2f}x wall, "
          f"{pair['cpu_ratio']:.2f}x CPU (CPU seconds {pair['cpu_a']:.3f} vs {pair['cpu_b']:.3f})")
    print(f"cold `audiotaste analyze --json` on a 30-s clip: {t_cold:.2f} s")
    print(f"peak RSS analysing a {args.long_minutes:g}-min file: {rss:.0f} MB")
    print(f"own peak RSS (this process): {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
