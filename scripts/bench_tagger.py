"""Benchmark the tagger: accuracy on the held-out-SoundFont test split, calibration, speed, memory and
robustness, beside the corpus baseline, in one run.

    nice -n 10 .venv/bin/python scripts/bench_tagger.py --manifest corpus/full/manifest.csv

Accuracy: genre and mood macro ROC-AUC (and per class), ECE of the calibrated probabilities, and a
genre confusion table (true genre vs arg-max genre). Speed: one torch thread; "from mel" times
``predict_patches`` on a 3-minute log-mel, "from file" times ``predict_file`` (decode + resample + STFT +
mel + net) on a 3-minute FLAC. Memory: peak RSS growth while tagging a long synthetic file.
Robustness: mean absolute change of every probability under gain ±6 dB, MP3 at 128 kbit/s (ffmpeg) and
white noise at 20 dB SNR.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from audiotaste.errors import AudiotasteError  # noqa: E402
from audiotaste.tagger import load_model  # noqa: E402
from audiotaste.tagger.base import load_mono  # noqa: E402
from audiotaste.tagger.calibration import expected_calibration_error  # noqa: E402
from audiotaste.tagger.data import cached_mels, read_labelled  # noqa: E402
from audiotaste.tagger.infer import log_mel  # noqa: E402
from audiotaste.tagger.train import evaluate  # noqa: E402


def _probs(tagger, tags: dict) -> np.ndarray:
    return np.array([tags[t][n] for t, names in tagger.labels.items() for n in names])


def _track_tags(tagger, mel, path) -> dict:
    """Whole-track tags as ``analyze`` gives them: the CNN's, then the card's track head, which needs
    the key (read from the clip's audio, as ``analyze`` does)."""
    tags = tagger.predict_mel(np.asarray(mel, np.float32)).tags
    if not tagger.track_heads:  # a CnnTagger without a head: the key is not needed
        return tags
    from audiotaste.features import tonal
    from audiotaste.tagger.base import load_mono

    k = tonal.key(load_mono(path, tagger.frontend.sr), tagger.frontend.sr)
    return tagger.apply_track_head(tags, mode=1 if k.mode is None else k.mode, key_confidence=k.confidence,
                                   key=-1 if k.key is None else k.key)


def accuracy(tagger, manifest: Path, split: str, cache: Path) -> tuple[dict, np.ndarray, list[int]]:
    ds = read_labelled(manifest)
    idx = ds.indices(split)
    # align the manifest's label columns with the model's outputs
    src_cols = {(t, n): i for i, (t, n) in enumerate((t, n) for t, ns in ds.labels.items() for n in ns)}
    cols = [src_cols.get((t, n)) for t, ns in tagger.labels.items() for n in ns]
    mels, errors = cached_mels([ds.paths[i] for i in idx], tagger.frontend, cache)
    keep = [k for k, m in enumerate(mels) if m is not None]
    probs = np.stack([_probs(tagger, _track_tags(tagger, mels[k], ds.paths[idx[k]])) for k in keep])
    targets = np.stack(
        [[ds.targets[idx[k], c] if c is not None else 0.0 for c in cols] for k in keep]
    ).astype(np.float32)
    metrics = evaluate(probs, targets, tagger.labels)
    metrics["skipped"] = len(errors)
    metrics["soundfonts"] = sorted(set(ds.groups["soundfont"][idx])) if "soundfont" in ds.groups else []
    metrics["train_soundfonts"] = (
        sorted(set(ds.groups["soundfont"][ds.indices("train")])) if "soundfont" in ds.groups else []
    )
    g = len(tagger.labels["genre"])
    true_g, pred_g = targets[:, :g].argmax(1), probs[:, :g].argmax(1)
    confusion = np.zeros((g, g), dtype=int)
    np.add.at(confusion, (true_g, pred_g), 1)
    metrics["genre_top1"] = float((true_g == pred_g).mean())
    # calibration of the most likely genre only (a stricter view than the all-labels ECE)
    top = probs[np.arange(len(probs)), pred_g]
    metrics["genre_top_label_ece"] = expected_calibration_error(top, (true_g == pred_g).astype(float))
    return metrics, confusion, [int(idx[k]) for k in keep]


def _median_time(fn, repeats: int) -> tuple[float, float]:
    """Median wall and CPU seconds of ``fn()`` (CPU time is what a busy shared machine cannot inflate)."""
    fn()
    wall, cpu = [], []
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return float(np.median(wall)), float(np.median(cpu))


def speed(tagger, flac: Path | None) -> dict:
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    seconds = 180.0
    y = (0.1 * rng.standard_normal(int(seconds * 22050))).astype(np.float32)
    mel = log_mel(y, tagger.frontend)
    out = dict(zip(("mel_s", "mel_cpu_s"), _median_time(lambda: tagger.predict_patches(mel), 15), strict=True))
    if flac is not None:
        import soundfile as sf

        with tempfile.TemporaryDirectory() as tmp:
            # a 3-minute 44.1 kHz FLAC made by looping a corpus clip
            src, sr = sf.read(flac, dtype="float32", always_2d=True)
            reps = int(np.ceil(seconds * sr / len(src)))
            path = Path(tmp) / "3min.flac"
            sf.write(path, np.tile(src, (reps, 1))[: int(seconds * sr)], sr)
            out.update(zip(("file_s", "file_cpu_s"), _median_time(lambda: tagger.predict_file(path), 5), strict=True))
            try:  # anchor: the musicnn port, when `audiotaste models fetch musicnn` has been run
                musicnn = load_model("musicnn-msd")
            except AudiotasteError as exc:
                print(f"(musicnn anchor not timed: {exc})")
            else:
                times = _median_time(lambda: musicnn.predict_file(path), 3)
                out.update(zip(("musicnn_s", "musicnn_cpu_s"), times, strict=True))
    return out


def long_file(tagger, minutes: float) -> dict:
    """Tag a long noise signal; report time and peak RSS growth (MB)."""
    torch.set_num_threads(1)
    y = np.random.default_rng(1).standard_normal(int(minutes * 60 * 22050), dtype=np.float32)
    y *= 0.1
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t = time.perf_counter()
    res = tagger.predict_audio(y)
    elapsed = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "minutes": minutes,
        "seconds": elapsed,
        "patches": len(res.patch_times),
        "signal_mb": y.nbytes / 2**20,
        "peak_growth_mb": peak - before,
    }


def robustness(tagger, paths: list[Path]) -> dict:
    torch.set_num_threads(1)
    changes: dict[str, list[np.ndarray]] = {"gain +6 dB": [], "gain -6 dB": [], "MP3 128k": [], "noise 20 dB SNR": []}
    flips: dict[str, list[bool]] = {k: [] for k in changes}
    g = len(tagger.labels["genre"])
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        for path in paths:
            y = load_mono(path, 22050)
            ref = _probs(tagger, tagger.predict_audio(y).tags)
            mp3 = Path(tmp) / "x.mp3"
            subprocess.run(
                ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(path), "-b:a", "128k", str(mp3)],
                check=True,
            )
            noise = rng.standard_normal(len(y)).astype(np.float32) * np.sqrt(np.mean(y**2) / 100.0)
            variants = {
                "gain +6 dB": y * 10 ** (6 / 20),
                "gain -6 dB": y * 10 ** (-6 / 20),
                "MP3 128k": load_mono(mp3, 22050),
                "noise 20 dB SNR": y + noise,
            }
            for name, v in variants.items():
                p = _probs(tagger, tagger.predict_audio(v.astype(np.float32)).tags)
                changes[name].append(np.abs(p - ref))
                flips[name].append(bool(p[:g].argmax() != ref[:g].argmax()))
    return {
        name: {
            "mean_abs_change": float(np.mean(np.concatenate(c))),
            "p95_abs_change": float(np.percentile(np.concatenate(c), 95)),
            "top_genre_changed": float(np.mean(flips[name])),
        }
        for name, c in changes.items()
    }


def baseline(manifest: Path) -> str | None:
    script = ROOT / "scripts" / "bench_corpus_baseline.py"
    if not script.is_file():
        return None
    res = subprocess.run(
        [sys.executable, str(script), "--manifest", str(manifest), "--workers", "1"], capture_output=True, text=True, cwd=ROOT
    )
    return (res.stdout + res.stderr).strip()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="default")
    ap.add_argument("--manifest", type=Path, default=ROOT / "corpus/full/manifest.csv")
    ap.add_argument("--split", default="test")
    ap.add_argument("--cache", type=Path, default=ROOT / "corpus/melcache")
    ap.add_argument("--robust-n", type=int, default=40, help="test clips for the robustness check")
    ap.add_argument("--long-minutes", type=float, default=120.0, help="0 skips the long-file check")
    ap.add_argument("--no-baseline", action="store_true")
    args = ap.parse_args()

    tagger = load_model(args.model)
    n_params = sum(p.numel() for p in tagger.net.parameters())
    print(f"# tagger bench: {tagger.name}@{tagger.version}, {n_params:,} parameters\n")

    metrics, confusion, kept = accuracy(tagger, args.manifest, args.split, args.cache)
    ds = read_labelled(args.manifest)
    print(f"test split: {metrics['n']} clips, SoundFonts {metrics['soundfonts']} "
          f"(train used {metrics['train_soundfonts']}); skipped {metrics['skipped']}\n")
    print("| head | macro ROC-AUC | ECE (all labels) | target |")
    print("|---|---|---|---|")
    for tax, target in (("genre", "AUC ≥ 0.97"), ("mood", "AUC ≥ 0.92")):
        m = metrics[tax]
        print(f"| {tax} | {m['macro_auc']:.3f} | {m['ece']:.3f} | {target}, ECE ≤ 0.05 |")
    print(f"\ngenre top-1 accuracy {metrics['genre_top1']:.3f}; top-label ECE {metrics['genre_top_label_ece']:.3f}\n")
    for tax in tagger.labels:
        per = metrics[tax]["auc"]
        print(f"per-class AUC ({tax}): " + ", ".join(f"{k} {v:.3f}" for k, v in per.items()))
    names = tagger.labels["genre"]
    print("\ngenre confusion (rows true, columns predicted):\n")
    print("| true \\ pred | " + " | ".join(n[:5] for n in names) + " |")
    print("|---" * (len(names) + 1) + "|")
    for i, n in enumerate(names):
        print(f"| {n} | " + " | ".join(str(v) if v else "." for v in confusion[i]) + " |")

    sp = speed(tagger, ds.paths[kept[0]] if kept else None)
    print("\n| speed (1 thread, 3-min track, median) | wall | × real time (wall) | CPU | × real time (CPU) |")
    print("|---|---|---|---|---|")
    rows = (
        ("mel", "tagger, from mel (predict_patches)"),
        ("file", "tagger, from FLAC file (decode+mel+net)"),
        ("musicnn", "anchor: musicnn-msd port, from FLAC file"),
    )
    for key, what in rows:
        if f"{key}_s" in sp:
            w, c = sp[f"{key}_s"], sp[f"{key}_cpu_s"]
            print(f"| {what} | {w * 1000:.1f} ms | {180 / w:,.0f}× | {c * 1000:.1f} ms | {180 / c:,.0f}× |")

    if args.long_minutes > 0:
        lf = long_file(tagger, args.long_minutes)
        print(f"\nlong file: {lf['minutes']:.0f} min -> {lf['patches']} patches in {lf['seconds']:.1f} s; "
              f"peak RSS growth while tagging {lf['peak_growth_mb']:.0f} MB (beyond the {lf['signal_mb']:.0f} MB signal)")

    if args.robust_n > 0:
        rob = robustness(tagger, [ds.paths[i] for i in kept[: args.robust_n]])
        print(f"\nrobustness on {min(args.robust_n, len(kept))} test clips (all genre+mood probabilities):\n")
        print("| perturbation | mean abs Δp | 95th pct abs Δp | top genre changed |")
        print("|---|---|---|---|")
        for name, r in rob.items():
            print(f"| {name} | {r['mean_abs_change']:.4f} | {r['p95_abs_change']:.3f} | {r['top_genre_changed']:.1%} |")

    if not args.no_baseline:
        text = baseline(args.manifest)
        print("\nbaseline (scripts/bench_corpus_baseline.py):\n" + (text or "not available"))


if __name__ == "__main__":
    main()
