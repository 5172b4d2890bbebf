"""Distil musicnn into a small student: data manifest, teacher labels, the pruned student.

Three steps, each resumable (see docs/DATA.md ``## distill`` for the data policy)::

    # 1. list the soundtracks' music files and split them by whole soundtrack
    python scripts/distill_musicnn.py manifest --out /work/data/distill/manifest.csv
    # 2. teacher labels per 3-s patch, cached per file (held-out soundtracks first)
    nice -n 19 python scripts/distill_musicnn.py teacher --manifest /work/data/distill/manifest.csv \\
        --cache /work/data/distill/teacher --models musicnn-msd
    # 3. prune the teacher, fine-tune it on its own outputs, write the shipped student
    nice -n 5 python scripts/distill_musicnn.py prune --widths 16 8 --epochs 8 \\
        --out models/musicnn-msd-student

Nothing is downloaded: the soundtracks come from Debian packages (``apt-get install naev-data
widelands-data supertux-data hedgewars-data megaglest-data``), the teacher from an earlier
``audiotaste models fetch musicnn``.
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

AUDIO = (".ogg", ".oga", ".flac", ".wav", ".mp3")
#: Debian package -> (soundtrack, split). Whole soundtracks are held out, never random clips:
#: clips of one game share composer, instruments and mastering, so a random split would leak.
PACKAGES = {
    "supertux-data": "test",
    "hedgewars-data": "val",
    "naev-data": "train",
    "widelands-data": "train",
    "megaglest-data": "train",
}
SPLIT_ORDER = {"test": 0, "val": 1, "train": 2}


def _music_files(package: str) -> list[Path]:
    """Music files a package installs: audio under a ``music`` folder (sound effects are left out)."""
    listing = subprocess.run(
        ["dpkg", "-L", package], capture_output=True, text=True, check=True
    ).stdout
    files = []
    for line in listing.splitlines():
        p = Path(line)
        if p.suffix.lower() in AUDIO and "music" in (s.lower() for s in p.parts) and p.is_file():
            files.append(p)
    return sorted(files)


def cmd_manifest(args: argparse.Namespace) -> None:
    import soundfile as sf

    rows = []
    for package, split in PACKAGES.items():
        for p in _music_files(package):
            try:
                dur = sf.info(str(p)).duration
            except (RuntimeError, sf.LibsndfileError):
                print(f"skipped (unreadable): {p}", file=sys.stderr)
                continue
            if dur < 3.0:  # jingles shorter than one teacher patch
                continue
            rows.append(
                {"path": str(p), "source": package, "split": split, "duration_s": round(dur, 2)}
            )
    corpus = Path(args.corpus)
    if corpus.is_file() and args.corpus_share > 0:
        with corpus.open() as f:
            train = [r for r in csv.DictReader(f) if r["split"] == "train"]
        step = max(1, round(1 / args.corpus_share))
        for r in train[::step]:
            rows.append(
                {
                    "path": str((corpus.parent / r["path"]).resolve()),
                    "source": "rendered",
                    "split": "train",
                    "duration_s": float(r["duration_s"]),
                }
            )
    # test and val first so the bench can run early; the train rows alternate between sources so that
    # any prefix (what the teacher reached so far) covers every soundtrack
    by_source: dict[str, list[dict]] = {}
    for r in rows:
        by_source.setdefault(r["source"], []).append(r)
    held = sorted((r for r in rows if r["split"] != "train"), key=lambda r: SPLIT_ORDER[r["split"]])
    queues = [q for s, q in by_source.items() if q[0]["split"] == "train"]
    train_rows = []
    while any(queues):
        for q in queues:
            if q:
                train_rows.append(q.pop(0))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    with tmp.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["path", "source", "split", "duration_s"])
        w.writeheader()
        w.writerows(held + train_rows)
    tmp.replace(out)
    summary: dict[tuple[str, str], list[float]] = {}
    for r in rows:
        summary.setdefault((r["source"], r["split"]), []).append(float(r["duration_s"]))
    for (src, split), d in sorted(summary.items(), key=lambda kv: SPLIT_ORDER[kv[0][1]]):
        print(f"{src:16s} {split:5s} {len(d):4d} files {sum(d) / 60:7.1f} min")
    print(f"wrote {out}")


def _read_manifest(path: str) -> list[dict[str, str]]:
    with open(path) as f:
        return list(csv.DictReader(f))


def cmd_teacher(args: argparse.Namespace) -> None:
    import torch

    from audiotaste.errors import AudiotasteError
    from audiotaste.tagger.distill import cached_teacher
    from audiotaste.tagger.musicnn import load_musicnn

    torch.set_num_threads(1)
    teachers = [load_musicnn(m) for m in args.models]
    rows = [r for r in _read_manifest(args.manifest) if not args.split or r["split"] in args.split]
    t0 = time.monotonic()
    for i, r in enumerate(rows):
        if args.budget_s and time.monotonic() - t0 > args.budget_s:
            print(f"time budget reached after {i} of {len(rows)} files")
            return
        try:
            got = cached_teacher(r["path"], teachers, args.cache, max_patches=args.max_patches)
        except AudiotasteError as exc:
            print(f"skipped: {exc}", file=sys.stderr)
            continue
        n = len(next(iter(got.values()))["start_s"])
        print(
            f"{i + 1}/{len(rows)} {r['split']} {r['source']} {Path(r['path']).name}: {n} patches, "
            f"{time.monotonic() - t0:.0f} s",
            flush=True,
        )


def _musicnn_mel(path: str, mel_cache: Path) -> np.ndarray:
    """musicnn's whole-file log-mel [n_frames, 96], cached as ``<mel_cache>/<key>.npy``."""
    from audiotaste.tagger.base import load_mono
    from audiotaste.tagger.distill import cache_key
    from audiotaste.tagger.musicnn import SR, musicnn_logmel

    f = mel_cache / f"{cache_key(Path(path))}.npy"
    if f.is_file():
        return np.load(f)
    mel = musicnn_logmel(load_mono(Path(path), SR)).astype(np.float32)
    mel_cache.mkdir(parents=True, exist_ok=True)
    tmp = mel_cache / f".{f.stem}.tmp.npy"
    np.save(tmp, mel)
    tmp.replace(f)
    return mel


def _dense_labels(path: str, teacher, hop: int, mel_cache: Path, cache: Path):
    """The teacher's logits and penultimate layer on patches every ``hop`` frames of a file,
    cached as ``<cache>/<key>.npz``: (patches, logits, emb)."""
    import torch

    from audiotaste.tagger.distill import cache_key
    from audiotaste.tagger.musicnn import musicnn_patches

    f = cache / f"{cache_key(Path(path))}.npz"
    x = musicnn_patches(_musicnn_mel(path, mel_cache), hop=hop)
    starts = np.arange(len(x)) * hop
    if not f.is_file():
        logits, emb = [], []
        with torch.inference_mode():
            for s in range(0, len(x), 16):
                lo, em = teacher.net(torch.from_numpy(x[s : s + 16]))
                logits.append(lo.numpy())
                emb.append(em.numpy())
        cache.mkdir(parents=True, exist_ok=True)
        tmp = cache / f".{f.stem}.tmp.npz"
        np.savez(tmp, starts=starts, logits=np.concatenate(logits), emb=np.concatenate(emb))
        tmp.replace(f)
    with np.load(f) as z:
        if not np.array_equal(z["starts"], starts):
            raise SystemExit(f"{f}: cached with another hop; remove {cache}")
        return x, z["logits"], z["emb"]


def cmd_prune(args: argparse.Namespace) -> None:
    """Prune the teacher and fine-tune it on its own outputs (audiotaste.tagger.pruned)."""
    import torch

    from audiotaste.tagger.distill import cached_teacher, distill_metrics, teacher_patch_index
    from audiotaste.tagger.musicnn import MusicnnTagger, load_musicnn, musicnn_patches
    from audiotaste.tagger.pruned import PrunedConfig, fine_tune_pruned, prune_musicnn

    torch.set_num_threads(args.threads)
    teacher = load_musicnn(args.teacher)
    mel_cache, dense = Path(args.mel_cache), Path(args.dense_cache) / teacher.name
    rows = _read_manifest(args.manifest)
    src_of = {r["path"]: r["source"] for r in rows}
    xs, ls, es, sources = [], [], [], {}
    t0 = time.monotonic()
    for r in rows:
        if r["split"] != "train":
            continue
        x, lo, em = _dense_labels(r["path"], teacher, args.hop, mel_cache, dense)
        xs.append(x)
        ls.append(lo)
        es.append(em)
        sources[r["source"]] = sources.get(r["source"], 0) + 1
    x_train, l_train, e_train = np.concatenate(xs), np.concatenate(ls), np.concatenate(es)
    print(f"train: {sum(sources.values())} files, {len(x_train)} patches every {args.hop} frames "
          f"({time.monotonic() - t0:.0f} s)", flush=True)

    # validation: the bench's patches (at most 20 per file) of the validation soundtrack
    val_x, val_t = [], []
    for r in rows:
        if r["split"] != "val":
            continue
        lab = cached_teacher(r["path"], [teacher], args.cache)[teacher.name]
        patches = musicnn_patches(_musicnn_mel(r["path"], mel_cache))
        val_x.append(patches[teacher_patch_index(lab["start_s"])])
        val_t.append(lab["probs"].mean(0))
    val_teacher = np.stack(val_t)

    val_metrics: list[dict] = []

    def validate(net) -> float:
        with torch.inference_mode():
            s = np.stack([torch.sigmoid(net(torch.from_numpy(x))[0]).mean(0).numpy() for x in val_x])
        m = distill_metrics(s, val_teacher)
        val_metrics.append(m)
        print(f"  val AUC {m['macro_auc']:.4f} Pearson {m['mean_pearson']:.4f}", flush=True)
        return 0.5 * (m["macro_auc"] + m["mean_pearson"])

    rng = np.random.default_rng(args.seed)
    sample = x_train[rng.choice(len(x_train), min(512, len(x_train)), replace=False)]
    net = prune_musicnn(teacher.net, sample, n_timbral=args.widths[0], n_temporal=args.widths[1])
    cfg = PrunedConfig(epochs=args.epochs, lr=args.lr, seed=args.seed)
    net, history = fine_tune_pruned(net, x_train, l_train, e_train, config=cfg, validate=validate)
    card = {
        "name": args.name,
        "version": args.version,
        "description": f"{teacher.name} pruned to {args.widths[0]} timbral and {args.widths[1]} "
        "temporal filters per convolution and fine-tuned on its own outputs (distilled student)",
        "teacher": {"name": teacher.name, "version": teacher.version,
                    "source": "musicnn 0.1.0 (Pons & Serra 2019, ISC licence)"},
        "trained_on": f"{teacher.name}'s outputs (logits and penultimate layer) on real game "
        f"soundtracks ({', '.join(sorted(sources))}); the kept weights are musicnn's own (ISC licence)",
        "data": {"train_files_by_source": sources, "train_patches": int(len(x_train)),
                 "patch_hop_frames": args.hop,
                 "val_sources": sorted({src_of[r["path"]] for r in rows if r["split"] == "val"}),
                 "policy": "split by whole soundtrack, see docs/DATA.md ## distill"},
        "training": {"config": cfg.to_dict(), "history": history,
                     "command": "python " + " ".join(sys.argv), "torch": torch.__version__},
        "n_parameters": sum(p.numel() for p in net.parameters()),
        "metrics": {
            "val": {
                "soundtracks": "hedgewars-data (selects the epoch)",
                "n_files": len(val_x),
                **max(val_metrics, key=lambda m: 0.5 * (m["macro_auc"] + m["mean_pearson"])),
            }
        },
    }
    MusicnnTagger(net, {**teacher.card, **card}).save(args.out)
    print(f"wrote {args.out}")


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("manifest", help="list the soundtracks' music and split it by soundtrack")
    m.add_argument("--out", default="/work/data/distill/manifest.csv")
    m.add_argument("--corpus", default="corpus/full/manifest.csv", help="rendered corpus manifest")
    m.add_argument(
        "--corpus-share", type=float, default=0.25, help="share of its train clips to add"
    )
    m.set_defaults(fn=cmd_manifest)
    t = sub.add_parser("teacher", help="cache musicnn's per-patch labels of every manifest file")
    t.add_argument("--manifest", default="/work/data/distill/manifest.csv")
    t.add_argument("--cache", default="/work/data/distill/teacher")
    t.add_argument("--models", nargs="+", default=["musicnn-msd"], help="names or model folders")
    t.add_argument("--split", nargs="*", help="only these splits (default: all, in manifest order)")
    t.add_argument("--max-patches", type=int, default=20, help="evenly spaced 3-s patches per file")
    t.add_argument(
        "--budget-s", type=float, default=0, help="stop after this many seconds (0: never)"
    )
    t.set_defaults(fn=cmd_teacher)
    q = sub.add_parser("prune", help="prune the teacher and fine-tune it on its own outputs")
    q.add_argument("--manifest", default="/work/data/distill/manifest.csv")
    q.add_argument("--cache", default="/work/data/distill/teacher")
    q.add_argument("--mel-cache", default="/work/data/distill/mel16")
    q.add_argument("--dense-cache", default="/work/data/distill/dense")
    q.add_argument("--teacher", default="musicnn-msd")
    q.add_argument("--widths", type=int, nargs=2, default=[16, 8], metavar=("TIMBRAL", "TEMPORAL"))
    q.add_argument("--hop", type=int, default=62, help="frames between training patches (62 = 1 s)")
    q.add_argument("--epochs", type=int, default=6)
    q.add_argument("--lr", type=float, default=3e-4)
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--threads", type=int, default=1)
    q.add_argument("--name", default="musicnn-msd-student")
    q.add_argument("--version", default="1.0.0")
    q.add_argument("--out", required=True)
    q.set_defaults(fn=cmd_prune)
    args = ap.parse_args()
    args.fn(args)


if __name__ == "__main__":
    main()
