"""Variants of the genre/mood head (``models/tags``) scored the way 1.1.0 was chosen (issue 18, session 12).

Two steps:

- ``patches <set>``: the musicnn student's per-patch tags and embeddings (at most
  :data:`~audiotaste.tagger.affect.MAX_PATCHES` patches, as ``analyze`` runs it) of every clip of a
  set (``4q``: the 4Q dev clips, read at 22.05 kHz as ``extract_real_features.py`` reads them;
  ``deb``/``charts``: the Debian tracks and the 126 dev rhythm-game charts, 30 s from the middle as
  ``extract_tag_features.py`` reads them; ``train1``/``full``: the rendered train, val and test
  clips), one ``<id>.npz`` (``tags`` [k, 50], ``emb`` [k, 200]) under ``--patches``. Besides
  the extra statistics this gives the 4Q clips' mean features exactly as ``analyze`` computes them
  now: 94 of the 461 cached in ``cache/affect/4q_dev`` still hold means over 10 patches, not 6.
- ``fit``: one variant of ``train_tag_head.py --blend``'s recipe, scored by the out-of-fold
  genre cross-entropy of the blended logits on the 4Q fit half (5 artist-grouped folds, the blend
  chosen on them as :meth:`TagHead.fit_prior_blend` does), their macro ROC-AUC over the 8 genres
  musicnn names, and (unless ``--noselect``) the select half and rendered val (or ``--test``).
  Variants: extra per-patch statistics of the student (``--kinds tstd,tmax,estd,emax``; inserted before
  the prior columns), the dev charts as more distillation audio (``--charts`` weight; teachers' tags
  from ``extract_tag_features.py --source-prefix stepmania- taiko- --teachers``), the teachers' tags
  on the 4Q fit clips as extra soft targets (``--tq`` weight), seeds averaged (``--seeds``).

Usage::

    python scripts/bench_tag_variants.py patches 4q     # and deb, charts, train1, full
    python scripts/bench_tag_variants.py fit --name fresh
    python scripts/bench_tag_variants.py fit --name stats --kinds tstd,tmax --charts 1
"""

from __future__ import annotations

import argparse
import copy
import csv
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import train_tag_head as T  # noqa: E402
from extract_tag_features import excerpt, safe_id  # noqa: E402
from train_real_heads import artist_half  # noqa: E402

from audiotaste.tagger.tag_head import GENRES, TagHead, logit, stack_features, weighted_bce  # noqa: E402

DATA = Path("/work/data")
REAL = DATA / "real/manifest.csv"
CHARTS = ("stepmania-", "taiko-")
RENDERED = {"train1": (DATA / "corpus/train1/manifest.csv", ("train",)),
            "full": (DATA / "corpus/full/manifest.csv", ("val", "test"))}  # fmt: skip
Part = tuple[np.ndarray, np.ndarray, np.ndarray, bool]


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def patch_sources(which: str) -> list[tuple[str, Path, bool]]:
    """(cache id, audio file, read whole at 22.05 kHz) of every clip of a set."""
    if which == "4q":
        rows = [r for r in _rows(REAL) if r["source"] == "4q" and r["split"] == "dev"]
        return [(Path(r["path"]).stem, REAL.parent / r["path"], True) for r in rows]
    if which in ("deb", "charts"):
        rows = [r for r in _rows(REAL) if (r["split"] == "unlabelled" if which == "deb"
                                           else r["split"] == "dev" and r["source"].startswith(CHARTS))]  # fmt: skip
        return [(safe_id(r["clip_id"]), REAL.parent / r["path"], False) for r in rows]
    manifest, splits = RENDERED[which]
    rows = [r for r in _rows(manifest) if r["split"] in splits]
    return [(safe_id(r["clip_id"]), manifest.parent / r["path"], False) for r in rows]


def cache_patches(which: str, out: Path) -> None:
    """Write each clip's per-patch student tags and embeddings (resumable)."""
    import soxr
    import torch

    from audiotaste.audio import downmix, load
    from audiotaste.tagger.affect import load_student, student_patches

    torch.set_num_threads(1)
    student, folder, t0 = load_student(), out / which, time.time()
    folder.mkdir(parents=True, exist_ok=True)
    for cid, path, whole in patch_sources(which):
        target = folder / f"{cid}.npz"
        if target.is_file():
            continue
        if whole:
            y22 = np.asarray(load(str(path), sr=22050, mono=True)[0], np.float32).reshape(-1)
        else:
            y, sr = load(str(path), sr=None, mono=False)
            y = excerpt(np.atleast_2d(np.asarray(y, np.float32)), sr, 30.0)
            y22 = soxr.resample(downmix(y), sr, 22050).astype(np.float32)
        probs, embs = student.predict_and_embed_patches(student_patches(y22, 22050))
        np.savez(target, tags=probs.astype(np.float32), emb=embs.astype(np.float32))
    print(f"{which}: {time.time() - t0:.0f} s")


def features(a: dict[str, np.ndarray], folder: Path, ids: list[str], kinds: list[str]) -> np.ndarray:
    """:func:`stack_features` rows with the student's means from the patches, plus ``kinds`` statistics."""
    pt = []
    for i in ids:
        with np.load(folder / f"{i}.npz") as z:
            pt.append((z["tags"], z["emb"]))
    a = {**a, "affect_tags": np.stack([t.mean(0) for t, _ in pt]), "affect_emb": np.stack([e.mean(0) for _, e in pt])}
    X = stack_features(a)
    if not kinds:
        return X
    stat = {"tstd": lambda t, e: logit(t).std(0), "tmax": lambda t, e: logit(t).max(0),
            "estd": lambda t, e: e.std(0), "emax": lambda t, e: e.max(0)}  # fmt: skip
    S = np.array([np.concatenate([stat[k](t, e) for k in kinds]) for t, e in pt])
    return np.hstack([X[:, : -T.N_PRIOR_COLUMNS], S, X[:, -T.N_PRIOR_COLUMNS :]])


def run_variant(args: argparse.Namespace) -> dict[str, object]:
    """Fit one variant; its OOF and held-out numbers."""
    kinds, P = [k for k in args.kinds.split(",") if k], args.patches
    rt_rows, rt = T.load_cache("rendered_train")
    rv_rows, rv = T.load_cache("rendered_test" if args.test else "rendered_val")
    deb_rows, deb = T.load_cache("deb")
    q_rows, q = T.load_4q()
    Xr = features(rt, P / "train1", [safe_id(r["clip_id"]) for r in rt_rows], kinds)
    Xv = features(rv, P / "full", [safe_id(r["clip_id"]) for r in rv_rows], kinds)
    Xd = features(deb, P / "deb", [safe_id(r["clip_id"]) for r in deb_rows], kinds)
    Xq = features(q, P / "4q", [Path(r["mirror_path"]).stem for r in q_rows], kinds)
    half = np.array([artist_half(r["artist"]) for r in q_rows])
    groups = np.array([r["artist"].strip().lower() for r in q_rows])
    fi, sel = np.flatnonzero(half == "fit"), half == "select"
    fit_rows, sel_rows = [q_rows[i] for i in fi], [r for r, k in zip(q_rows, sel, strict=True) if k]
    (Yr, Mr), (Yd, Md), tq = T.rendered_targets(rt_rows), T.teacher_targets(deb), T.teacher_targets(q)
    Yq, Mq = T.fourq_targets(q_rows, tq)
    wr, wq, wd = map(float, args.weights.split(","))
    fixed: list[Part] = [(Xr, Yr, Mr * wr, False), (Xd, Yd, Md * wd, True)]
    if args.charts:
        rows = [r for r in _rows(REAL) if r["split"] == "dev" and r["source"].startswith(CHARTS)
                and (args.charts_cache / f"{safe_id(r['clip_id'])}.npz").is_file()]  # fmt: skip
        c = T._stack([args.charts_cache / f"{safe_id(r['clip_id'])}.npz" for r in rows])
        Yc, Mc = T.teacher_targets(c)
        fixed.append((features(c, P / "charts", [safe_id(r["clip_id"]) for r in rows], kinds), Yc, Mc * args.charts, True))

    def labelled(idx: np.ndarray) -> list[Part]:
        parts: list[Part] = [(Xq[idx], Yq[idx], Mq[idx] * wq, True)]
        if args.tq:
            parts.append((Xq[idx], tq[0][idx], tq[1][idx] * args.tq, True))
        return parts

    seeds = [int(s) for s in args.seeds.split(",")]

    def heads(parts: list[Part]) -> list[TagHead]:
        X, Y, M = (np.vstack([p[i] for p in parts]) for i in range(3))
        real = np.concatenate([np.full(len(p[0]), p[3]) for p in parts])
        return [TagHead(experts=args.experts, l2=args.l2, epochs=args.epochs, seed=s).fit(X, Y, M, real=real)
                for s in seeds]  # fmt: skip

    from sklearn.model_selection import GroupKFold

    Z, D = np.zeros((len(fi), Yq.shape[1])), np.zeros(len(fi))
    for tr, te in GroupKFold(n_splits=5).split(fi, groups=groups[fi]):
        hs = heads([*fixed, *labelled(fi[tr])])
        Z[te] = np.mean([h.decision_function(Xq[fi[te]]) for h in hs], axis=0)
        D[te] = np.mean([h.real_weight(Xq[fi[te]]) for h in hs], axis=0)
    final = heads([*fixed, *labelled(fi)])
    Yf, Mf, g = Yq[fi], Mq[fi] * wq, slice(0, len(GENRES))
    blend = copy.deepcopy(final[0]).fit_prior_blend(Xq[fi], Z, D, Yf, Mf)
    assert blend.prior_cal_ is not None and blend.blend_ is not None
    c_oof = blend.prior_cal_[0] * Xq[fi][:, -T.N_PRIOR_COLUMNS // 2 :] + blend.prior_cal_[1]
    Zb = Z + blend.blend_[None] * D[:, None] * (c_oof - Z)
    res: dict[str, object] = {
        "name": args.name, "oof_raw_loss": weighted_bce(Z[:, g], Yf[:, g], Mf[:, g]),
        "oof_loss": weighted_bce(Zb[:, g], Yf[:, g], Mf[:, g]),
        "oof": T.score_4q(fit_rows, 1 / (1 + np.exp(-Zb))), "oof_raw": T.score_4q(fit_rows, 1 / (1 + np.exp(-Z))),
        "blend": {T.LABELS[j]: float(b) for j, b in enumerate(blend.blend_) if b},
        "oof_logits": np.round(Zb[:, g], 4).tolist(),  # for paired comparisons of variants
    }  # fmt: skip
    if not args.noselect:

        def proba(X: np.ndarray) -> np.ndarray:
            zs = []
            for h in final:
                h.prior_cal_, h.blend_ = blend.prior_cal_, blend.blend_
                zs.append(h.decision_function(X))
            return 1 / (1 + np.exp(-np.mean(zs, axis=0)))

        Yv, _ = T.rendered_targets(rv_rows)
        ps = proba(Xq[sel])
        res |= {"select": T.score_4q(sel_rows, ps), "ece": T.genre_ece(sel_rows, ps),
                "rendered": T.score_rendered(Yv, proba(Xv))}  # fmt: skip
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--patches", type=Path, default=DATA / "cache/tags2/patches")
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("patches")
    p.add_argument("which", choices=("4q", "deb", "charts", "train1", "full"))
    f = sub.add_parser("fit")
    f.add_argument("--name", required=True)
    f.add_argument("--kinds", default="", help="comma-separated: tstd, tmax, estd, emax")
    f.add_argument("--weights", default="1,2,1", help="rendered,real-labels,distilled")
    f.add_argument("--charts", type=float, default=0.0, help="weight of the dev charts as distillation (0: none)")
    f.add_argument("--charts-cache", type=Path, default=DATA / "cache/tags2/charts")
    f.add_argument("--tq", type=float, default=0.0, help="weight of the teachers' tags on the 4Q fit clips")
    f.add_argument("--experts", type=int, default=2)
    f.add_argument("--l2", type=float, default=3e-3)
    f.add_argument("--epochs", type=int, default=800)
    f.add_argument("--seeds", default="0")
    f.add_argument("--test", action="store_true", help="rendered test instead of val (once, for the chosen variant)")
    f.add_argument("--noselect", action="store_true", help="OOF numbers only")
    f.add_argument("--log", type=Path, default=None, help="append the result as one JSON line")
    args = ap.parse_args(argv)
    if args.cmd == "patches":
        cache_patches(args.which, args.patches)
        return 0
    t0 = time.time()
    res = run_variant(args)
    oof, raw = res["oof"], res["oof_raw"]
    assert isinstance(oof, dict) and isinstance(raw, dict)
    line = f"{args.name:28s} OOF loss {res['oof_loss']:.4f} (head alone {res['oof_raw_loss']:.4f}) OOF macro8 {oof['macro8']:.3f}"
    if "select" in res:
        s, r = res["select"], res["rendered"]
        assert isinstance(s, dict) and isinstance(r, dict)
        line += (f" | select macro {s['macro']:.3f} macro8 {s['macro8']:.3f} ECE {res['ece']:.3f} | rendered "
                 f"{r['genre']:.3f}/{r['mood']:.3f} | " + " ".join(f"{k}={v:.3f}" for k, v in s.items()))  # fmt: skip
    print(f"{line} | {time.time() - t0:.0f} s", flush=True)
    if args.log is not None:
        with args.log.open("a") as fh:
            fh.write(json.dumps(res) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
