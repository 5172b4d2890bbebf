"""Cache what the taggers say about a corpus's clips, for fitting the shipped genre/mood head.

One ``<id>.npz`` per manifest row under ``--cache`` (the same keys as
``scripts/extract_real_features.py``): ``desc``, ``default_tags`` [19], ``default_emb`` [128],
``affect_tags`` [50] and ``affect_emb`` [200] (the musicnn student as ``analyze`` runs it), and with
``--teachers`` the fetched musicnn teachers' ``msd_tags``/``mtt_tags`` [50] and embeddings, which the
head is distilled from on unlabelled real audio.

Works on the rendered corpus (``corpus/full/manifest.csv``: whole clips) and on the real corpus
(``/work/data/real/manifest.csv``; ``--split unlabelled`` for the Debian tracks, each read as one
excerpt of at most ``--excerpt`` (30) seconds from its middle, as a 30-s preview would be). Resumable:
clips already cached are skipped; a clip that fails is reported and skipped. Audio is never written
into the repository.

Usage::

    nice -n 10 python scripts/extract_tag_features.py --manifest /work/data/corpus/full/manifest.csv \
        --cache /work/data/cache/tags/rendered
    nice -n 10 python scripts/extract_tag_features.py --manifest /work/data/real/manifest.csv \
        --split unlabelled --teachers --cache /work/data/cache/tags/deb
    nice -n 10 python scripts/extract_tag_features.py --manifest /work/data/real/manifest.csv \
        --split dev --source-prefix stepmania- taiko- --teachers --cache /work/data/cache/tags2/charts
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _features_cache import save_npz  # noqa: E402
from extract_real_features import LABELS, analysis_features, without_tag_head  # noqa: E402

TEACHERS = ("musicnn-msd", "musicnn-mtt")


def safe_id(clip_id: str) -> str:
    """``deb-naev-data/usr/.../x.ogg`` -> a file name."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in clip_id)


def excerpt(y: np.ndarray, sr: int, seconds: float) -> np.ndarray:
    """At most ``seconds`` from the middle of ``y`` [channels, n]."""
    n = int(seconds * sr)
    if y.shape[-1] <= n:
        return y
    start = (y.shape[-1] - n) // 2
    return y[..., start : start + n]


def clip_features(y: np.ndarray, sr: int, teachers: dict[str, object]) -> dict[str, np.ndarray]:
    """Every cached array for one clip ``y`` [channels, n] at ``sr`` Hz."""
    import soxr

    from audiotaste.audio import downmix
    from audiotaste.tagger.affect import load_student, student_patches

    out = analysis_features((y, sr))
    mono = downmix(np.asarray(y, np.float32))
    y22 = soxr.resample(mono, sr, 22050).astype(np.float32)
    probs, embs = load_student().predict_and_embed_patches(student_patches(y22, 22050))
    out["affect_tags"], out["affect_emb"] = probs.mean(axis=0), embs.mean(axis=0)
    if teachers:
        y16 = soxr.resample(mono, sr, 16000).astype(np.float32)
        for name, m in teachers.items():
            o = m.predict_audio(y16, sr=16000)  # type: ignore[attr-defined]
            key = name.replace("musicnn-", "")
            out[f"{key}_tags"] = np.array(list(o.tags["tag"].values()), np.float32)
            out[f"{key}_emb"] = np.asarray(o.embedding, np.float32)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--manifest", type=Path, required=True)
    ap.add_argument("--cache", type=Path, required=True)
    ap.add_argument("--split", nargs="*", default=None, help="only rows of these splits")
    ap.add_argument("--source-prefix", nargs="*", default=None,
                    help="only rows whose source starts with one of these (e.g. stepmania- taiko-)")
    ap.add_argument("--teachers", action="store_true", help="also cache the musicnn teachers' tags")
    ap.add_argument("--excerpt", type=float, default=30.0, help="seconds read from each clip's middle")
    ap.add_argument("--limit", type=int, default=None)
    args = ap.parse_args(argv)

    import torch

    from audiotaste.tagger import load_model

    torch.set_num_threads(1)
    without_tag_head()
    LABELS.update(load_model("default").labels)
    teachers = {name: load_model(name) for name in TEACHERS} if args.teachers else {}
    with args.manifest.open(newline="") as f:
        rows = [r for r in csv.DictReader(f) if args.split is None or r.get("split") in args.split]
    if args.source_prefix is not None:
        rows = [r for r in rows if r.get("source", "").startswith(tuple(args.source_prefix))]
    # a random order, so that an interrupted run covers every source a little rather than the first ones
    rows = [rows[i] for i in np.random.default_rng(0).permutation(len(rows))][: args.limit]
    args.cache.mkdir(parents=True, exist_ok=True)
    t0, done, failed = time.time(), 0, 0
    for i, row in enumerate(rows):
        target = args.cache / f"{safe_id(row['clip_id'])}.npz"
        if target.is_file():
            continue
        path = args.manifest.parent / row["path"]
        try:
            from audiotaste.audio import load

            y, sr = load(str(path), sr=None, mono=False)
            feats = clip_features(excerpt(np.atleast_2d(np.asarray(y, np.float32)), sr, args.excerpt), sr, teachers)
        except Exception as exc:  # a bad file is reported and skipped; the rest go on
            failed += 1
            print(f"FAILED {row['clip_id']}: {exc}", file=sys.stderr)
            continue
        save_npz(target, **feats)
        done += 1
        if done % 50 == 0:
            print(f"{i + 1}/{len(rows)} clips, {time.time() - t0:.0f} s", flush=True)
    print(f"cached {done} new clips, {failed} failed, {time.time() - t0:.0f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
