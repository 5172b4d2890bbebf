"""Cache what every tagger says about the real 4Q dev clips, for fitting and scoring real-world heads.

For each clip of ``/work/shared/real_dev/4q_dev.csv`` (or of a corpus manifest's ``split=dev`` rows,
when the corpus exists) this writes one ``<clip_id>.npz`` under ``--cache`` holding:

- ``desc``: the analysis descriptors (:data:`DESC_NAMES`, NaN where the analysis has none),
- ``default_tags`` [19] and ``default_emb`` [128]: the shipped default tagger, as ``analyze`` reports it,
- ``<model>_tags`` [50] and ``<model>_emb`` [200] for the musicnn student and (when fetched) both
  musicnn teachers, means over 3-s patches;
- ``affect_tags`` [50] and ``affect_emb`` [200]: the student as ``analyze`` runs it for the affect
  head (:func:`audiotaste.tagger.affect.student_patches`); a cache without them gets them added.

Audio comes from the corpus when ``/work/data/real/manifest.csv`` lists the clip, else straight from
the git mirror of the public repository (decoded from a temporary file that is removed at once), so
no second copy of the audio is kept. Resumable: clips already cached are skipped; a clip that fails
is reported and skipped. The audio is never written into the repository.

Usage::

    nice -n 10 python scripts/extract_real_features.py --cache /work/data/cache/affect/4q_dev
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _features_cache import save_npz

DEV_CSV = Path("/work/shared/real_dev/4q_dev.csv")
MIRROR = Path("/work/.mirror/Famelgas+MULT_TP2/repo")
MANIFEST = Path("/work/data/real/manifest.csv")
DESC_NAMES = (
    "tempo_bpm", "tempo_confidence", "mode", "key_confidence", "loudness_lufs", "loudness_range_lu",
    "energy", "danceability", "brightness", "onset_rate", "dynamic_complexity",
)  # fmt: skip
MUSICNN_MODELS = ("musicnn-msd-student", "musicnn-msd", "musicnn-mtt")


def clip_id(mirror_path: str) -> str:
    """``Dataset/Q1/MT0000082187.mp3`` -> ``MT0000082187``."""
    return Path(mirror_path).stem


def corpus_paths() -> dict[str, Path]:
    """Audio files of the corpus's dev clips by clip id (empty until the corpus exists)."""
    if not MANIFEST.is_file():
        return {}
    with MANIFEST.open(newline="") as f:
        rows = [r for r in csv.DictReader(f) if r.get("split") == "dev"]
    return {r["clip_id"]: MANIFEST.parent / r["path"] for r in rows if (MANIFEST.parent / r["path"]).is_file()}


def _blob_to_file(mirror_path: str, folder: Path) -> Path:
    out = folder / Path(mirror_path).name
    data = subprocess.run(
        ["git", "-C", str(MIRROR), "cat-file", "blob", f"HEAD:{mirror_path}"],
        capture_output=True, check=True,
    ).stdout  # fmt: skip
    out.write_bytes(data)
    return out


def affect_features(path: Path) -> dict[str, np.ndarray]:
    """The student's mean tags and embedding as ``analyze`` computes them for the affect head
    (:func:`audiotaste.tagger.affect.student_patches` on the 22.05-kHz mono signal)."""
    from audiotaste.audio import load
    from audiotaste.tagger.affect import load_student, student_patches

    y, sr = load(str(path), sr=22050, mono=True)
    probs, embs = load_student().predict_and_embed_patches(student_patches(np.asarray(y).reshape(-1), sr))
    return {"affect_tags": probs.mean(axis=0), "affect_emb": embs.mean(axis=0)}


def analysis_features(source: Path | tuple[np.ndarray, int]) -> dict[str, np.ndarray]:
    """Descriptors and the default tagger's tags and embedding, as ``analyze`` reports them for a
    file or for ``(samples, sample_rate)``."""
    import audiotaste

    a = audiotaste.analyze(source if isinstance(source, tuple) else str(source))
    d = a.to_dict()
    desc = np.array([np.nan if d.get(k) is None else float(d[k]) for k in DESC_NAMES], np.float32)
    tags = a.tags or {}
    default = [tags.get(tax, {}).get(lab, np.nan) for tax, labs in LABELS.items() for lab in labs]
    return {
        "desc": desc,
        "default_tags": np.array(default, np.float32),
        "default_emb": np.asarray(a.embedding, np.float32),
    }


def features(path: Path, models: dict[str, object]) -> dict[str, np.ndarray]:
    from audiotaste.audio import load

    out = {**affect_features(path), **analysis_features(path)}
    y, sr = load(str(path), sr=16000, mono=True)
    for name, m in models.items():
        o = m.predict_audio(np.asarray(y, np.float32).reshape(-1), sr=sr)  # type: ignore[attr-defined]
        key = name.replace("musicnn-", "").replace("-", "_")
        out[f"{key}_tags"] = np.array(list(o.tags["tag"].values()), np.float32)
        out[f"{key}_emb"] = np.asarray(o.embedding, np.float32)
    return out


LABELS: dict[str, list[str]] = {}


def without_tag_head() -> None:
    """Point ``AUDIOTASTE_MODELS_DIR`` at the shipped models minus ``tags/``, so that ``analyze``
    reports the default CNN's own genre and mood (what the genre/mood head reads), not the head's."""
    from audiotaste._paths import models_dir

    shipped = models_dir()
    folder = Path(tempfile.mkdtemp(prefix="models_without_tags_"))
    for child in shipped.iterdir():
        if child.name != "tags":
            (folder / child.name).symlink_to(child.resolve())
    os.environ["AUDIOTASTE_MODELS_DIR"] = str(folder)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cache", type=Path, default=Path("/work/data/cache/affect/4q_dev"))
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--refresh-analysis", action="store_true",
                    help="recompute the descriptors and default tags of cached clips (after the analysis changed)")
    args = ap.parse_args(argv)

    import torch

    from audiotaste.tagger import load_model

    torch.set_num_threads(1)
    without_tag_head()
    LABELS.update(load_model("default").labels)
    models = {}
    for name in MUSICNN_MODELS:
        try:
            models[name] = load_model(name)
        except Exception as exc:  # a teacher not fetched: cache what we have
            print(f"skip {name}: {exc}", file=sys.stderr)
    args.cache.mkdir(parents=True, exist_ok=True)
    with DEV_CSV.open(newline="") as f:
        rows = list(csv.DictReader(f))[: args.limit]
    in_corpus = corpus_paths()
    t0, done, failed = time.time(), 0, 0
    with tempfile.TemporaryDirectory(prefix="affect_") as tmp:
        for i, row in enumerate(rows):
            cid = clip_id(row["mirror_path"])
            target = args.cache / f"{cid}.npz"
            old: dict[str, np.ndarray] = {}
            if target.is_file():
                with np.load(target) as z:
                    old = {k: z[k] for k in z.files}
                if "affect_emb" in old and not args.refresh_analysis:
                    continue
            try:
                path = in_corpus.get(cid) or _blob_to_file(row["mirror_path"], Path(tmp))
                if old and args.refresh_analysis:
                    feats = {**old, **analysis_features(path)}
                else:
                    feats = {**old, **affect_features(path)} if old else features(path, models)
            except Exception as exc:
                failed += 1
                print(f"FAILED {cid}: {exc}", file=sys.stderr)
                continue
            finally:
                for p in Path(tmp).iterdir():
                    p.unlink()
            save_npz(target, **feats)
            done += 1
            if done % 25 == 0:
                print(f"{i + 1}/{len(rows)} clips, {time.time() - t0:.0f} s", flush=True)
    print(f"cached {done} new clips, {failed} failed, {time.time() - t0:.0f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
