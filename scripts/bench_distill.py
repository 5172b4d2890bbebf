"""Student vs teacher on held-out real soundtracks: agreement of the tags, and speed on one thread.

    nice -n 5 python scripts/bench_distill.py --student musicnn-msd-student --teacher musicnn-msd \\
        --manifest /work/data/distill/manifest.csv --split test

Accuracy, per file of the split (track = mean over the file's labelled 3-s patches, the same
patches for both models, as cached by ``scripts/distill_musicnn.py teacher``):
- macro ROC-AUC of the student's track probabilities with the teacher's top-3 tags of each file as
  positives (target >= 0.90), next to the teacher scored against itself (the ceiling: positives are
  per file, so a tag's positive in one file can sit below a negative in another) and to a constant
  predictor (the teacher's mean over the training files: no per-file information, 0.5);
- mean per-tag Pearson correlation of student and teacher across files (target >= 0.8);
- top-1 agreement, and the cosine between the student's and the teacher's track embeddings.
Speed: CPU time (``time.process_time``, one torch thread) of front end + network over whole
files, decoding excluded; median over files of the teacher/student ratio (target >= 5x).
"""

from __future__ import annotations

import argparse
import csv
import resource
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))


def _rows(manifest: str, split: str) -> list[dict[str, str]]:
    with open(manifest) as f:
        return [r for r in csv.DictReader(f) if r["split"] == split]


def _cpu(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.process_time()
        fn()
        times.append(time.process_time() - t0)
    return float(np.median(times))


def add_arguments(ap: argparse.ArgumentParser) -> None:
    """This bench's options (``bench_realworld.py`` takes them too, for its student section)."""
    ap.add_argument("--student", default="musicnn-msd-student")
    ap.add_argument(
        "--teacher", default="musicnn-msd", help="musicnn model folder or name"
    )
    ap.add_argument("--manifest", default="/work/data/distill/manifest.csv")
    ap.add_argument("--label-cache", default="/work/data/distill/teacher",
                    help="teacher labels of scripts/distill_musicnn.py teacher")
    ap.add_argument("--split", default="test")
    ap.add_argument("--speed-files", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=3)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_arguments(ap)
    run(ap.parse_args())


def run(args: argparse.Namespace) -> None:
    """Print the accuracy and speed tables for ``args`` (see :func:`add_arguments`)."""
    torch.set_num_threads(1)

    from audiotaste.tagger import load_model
    from audiotaste.tagger.base import load_mono
    from audiotaste.tagger.distill import cached_teacher, distill_metrics, teacher_patch_index
    from audiotaste.tagger.musicnn import SR as T_SR
    from audiotaste.tagger.musicnn import (
        MusicnnTagger,
        load_musicnn,
        musicnn_logmel,
        musicnn_patches,
    )

    student = load_model(args.student)
    teacher = load_musicnn(args.teacher)
    tname = teacher.name
    if not isinstance(student, MusicnnTagger):  # the student reads the teacher's own patches
        raise SystemExit(f"{args.student}: not a musicnn-architecture student")

    # --- accuracy --------------------------------------------------------------------------------
    paths, labels = [], []
    for r in _rows(args.manifest, args.split):
        got = cached_teacher(r["path"], [tname], args.label_cache, compute=False)
        if tname in got:
            paths.append(Path(r["path"]))
            labels.append(got[tname])
    s_track, t_track, s_emb, t_emb, s_patch, t_patch = [], [], [], [], [], []
    for path, lab in zip(paths, labels, strict=True):
        mel = musicnn_logmel(load_mono(path, T_SR))
        probs, emb = student.predict_and_embed_patches(musicnn_patches(mel)[teacher_patch_index(lab["start_s"])])
        s_track.append(probs.mean(0))
        t_track.append(lab["probs"].mean(0))
        s_emb.append(emb.mean(0))
        t_emb.append(lab["emb"].mean(0))
        s_patch.append(probs)
        t_patch.append(lab["probs"])
    s, t = np.stack(s_track), np.stack(t_track)
    train_mean = np.mean(
        [
            got[tname]["probs"].mean(0)
            for r in _rows(args.manifest, "train")
            if (got := cached_teacher(r["path"], [tname], args.label_cache, compute=False))
        ],
        axis=0,
    )
    ours = distill_metrics(s, t)
    ceiling = distill_metrics(t, t)
    const = distill_metrics(
        np.tile(train_mean, (len(t), 1)),
        t,  # all ties: AUC 0.5, no Pearson
    )
    patch = distill_metrics(np.concatenate(s_patch), np.concatenate(t_patch))
    se, te = np.stack(s_emb), np.stack(t_emb)
    cos = np.sum(se * te, 1) / (np.linalg.norm(se, axis=1) * np.linalg.norm(te, axis=1) + 1e-12)
    n_patches = sum(len(x) for x in t_patch)
    print(
        f"\n{args.split} split: {len(t)} files, {n_patches} 3-s patches\n"
    )
    print(
        "| predictor | macro ROC-AUC (teacher top-3 positives) | mean per-tag Pearson | top-1 agreement |"
    )
    print("|---|---|---|---|")
    print(
        f"| student ({student.name}) | {ours['macro_auc']:.3f} ({ours['n_auc_tags']} tags) | "
        f"{ours['mean_pearson']:.3f} ({ours['n_pearson_tags']} tags) | {ours['top1_agreement']:.2f} |"
    )
    print(f"| teacher itself (ceiling) | {ceiling['macro_auc']:.3f} | 1 | 1 |")
    print(
        f"| constant: teacher's train-set mean | {const['macro_auc']:.3f} | - | {const['top1_agreement']:.2f} |"
    )
    print(
        f"| student, per patch (not per file) | {patch['macro_auc']:.3f} | {patch['mean_pearson']:.3f} | "
        f"{patch['top1_agreement']:.2f} |"
    )
    print(
        f"\nembedding cosine (student vs teacher track mean): median {np.median(cos):.3f}, "
        f"min {cos.min():.3f}"
    )

    # --- speed -------------------------------------------------------------------------------------
    rows = []
    for p in paths[: args.speed_files]:
        y16 = load_mono(p, T_SR)
        dur = len(y16) / T_SR
        st = _cpu(lambda: student.predict_audio(y16), args.repeats)  # noqa: B023
        tt = _cpu(lambda: teacher.predict_audio(y16), args.repeats)  # noqa: B023
        rows.append((p.name, dur, st, tt))
    print(
        "\n| file | s | student CPU s (x real time) | teacher CPU s (x real time) | teacher / student |"
    )
    print("|---|---|---|---|---|")
    for name, dur, st, tt in rows:
        print(
            f"| {name} | {dur:.0f} | {st:.3f} ({dur / st:.0f}x) | {tt:.3f} ({dur / tt:.0f}x) | {tt / st:.1f}x |"
        )
    ratios = [tt / st for _, _, st, tt in rows]
    print(
        f"\nmedian teacher/student CPU-time ratio: {np.median(ratios):.1f}x "
        f"(range {min(ratios):.1f}-{max(ratios):.1f}); one torch thread, decoding excluded"
    )
    n_s = sum(x.numel() for x in student.net.parameters())
    n_t = sum(x.numel() for x in teacher.net.parameters())
    from audiotaste._paths import model_path

    folder = Path(args.student) if Path(args.student).is_dir() else model_path(args.student)
    size = (folder / "model.safetensors").stat().st_size
    print(
        f"parameters: student {n_s:,} ({size / 1e6:.1f} MB safetensors), teacher {n_t:,}; "
        f"peak RSS of this run {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB"
    )


if __name__ == "__main__":
    main()
