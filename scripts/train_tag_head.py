"""Fit the genre/mood head that ``analyze`` publishes as ``genre.*`` and ``mood.*`` (issue 18).

The head reads what ``analyze`` already computes — the musicnn student's mean embedding and tags (as
for valence/arousal), the default CNN's tags and embedding, and the descriptors — and is fitted on
three sources at once (``--weights`` sets their weights):

- **rendered**: the rendered corpus's exact genre and mood labels (``train`` clips of a
  ``make_corpus.py`` corpus; val = OPL-3 font, test = sf_GMbank font, both unseen);
- **real labels**: the 4Q dev clips' AllMusic genres (mapped by name onto our 13) and Russell
  quadrants (mapped onto our moods), from the *fit* half of the artists only while selecting;
- **distilled**: unlabelled real audio (the Debian tracks) with the musicnn teachers' tags mapped by
  name onto our genres as soft targets.

``--blend`` then moves each genre's logit on a recording toward the student's calibrated by-name
prior, by a weight per genre chosen on out-of-fold logits of the same recipe (5 folds grouped by
artist over the labelled real clips the head is fitted on: the fit half while selecting, every dev
clip at ``--save``); a domain classifier fitted with the head keeps the blend off renders.

Selection reads the 4Q *select* half (genre macro ROC-AUC) and the rendered val split (heads fitted on
the fit half); the rendered test split is read once, for the chosen recipe (``--test``). ``--save``
refits the chosen recipe on every real dev clip and writes ``models/tags``.

Usage::

    python scripts/train_tag_head.py --weights 1,1,0 1,1,1 1,2,1 --experts 1 2   # the selection table
    python scripts/train_tag_head.py --blend                # the recipe with and without the prior blend
    python scripts/train_tag_head.py --blend --test         # the chosen recipe on the rendered test, once
    python scripts/train_tag_head.py --blend --save models/tags --version 1.1.0
"""

from __future__ import annotations

import argparse
import copy
import csv
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_real_heads import ALLMUSIC_TO_OURS, MSD, MTT, artist_half  # noqa: E402

from audiotaste.tagger.tag_head import (  # noqa: E402
    GENRES,
    MOODS,
    N_PRIOR_COLUMNS,
    STUDENT_NAMES,
    TagHead,
    stack_features,
)

DATA = Path("/work/data")
DEV_CSV = Path("/work/shared/real_dev/4q_dev.csv")
CACHES = {
    "rendered_train": (DATA / "corpus/train1/manifest.csv", DATA / "cache/tags/train1", ("train",)),
    "rendered_val": (DATA / "corpus/full/manifest.csv", DATA / "cache/tags/full", ("val",)),
    "rendered_test": (DATA / "corpus/full/manifest.csv", DATA / "cache/tags/full", ("test",)),
    "deb": (DATA / "real/manifest.csv", DATA / "cache/tags/deb", ("unlabelled",)),
}
Q4_CACHE = DATA / "cache/affect/4q_dev"

#: our genre -> MagnaTagATune tags of musicnn-mtt that name it
MTT_GENRES = {"ambient": ("ambient", "new age"), "classical": ("classical", "classic"), "country": ("country",),
              "electronic": ("electronic", "techno"), "pop": ("pop",), "rock": ("rock", "metal")}  # fmt: skip
#: our genre -> (MSD tags, MTT tags) whose largest probability is the teachers' soft target; the MSD
#: side is the student's (it was distilled from musicnn-msd, same 50 tags)
TEACHER_GENRES = {
    g: (list(STUDENT_NAMES.get(f"genre.{g}", ())), list(MTT_GENRES.get(g, ())))
    for g in GENRES
    if f"genre.{g}" in STUDENT_NAMES or g in MTT_GENRES
}
#: Russell quadrant -> (our moods that hold, our moods that do not); the rest are left unlabelled
QUADRANT_MOODS = {
    "Q1": (("happy", "energetic"), ("sad", "calm", "tender")),
    "Q2": (("tense", "energetic"), ("happy", "calm", "tender")),
    "Q3": (("sad",), ("happy", "energetic", "tense")),
    "Q4": (("calm",), ("sad", "energetic", "tense")),
}
LABELS = [f"genre.{g}" for g in GENRES] + [f"mood.{m}" for m in MOODS]


def _stack(files: list[Path]) -> dict[str, np.ndarray]:
    arrays: dict[str, list[np.ndarray]] = {}
    for f in files:
        with np.load(f) as z:
            for k in z.files:
                arrays.setdefault(k, []).append(z[k])
    return {k: np.stack(v) for k, v in arrays.items()}


def _safe(clip_id: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in clip_id)


def load_cache(name: str) -> tuple[list[dict[str, str]], dict[str, np.ndarray]]:
    manifest, cache, splits = CACHES[name]
    with manifest.open(newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["split"] in splits and (cache / f"{_safe(r['clip_id'])}.npz").is_file()]
    return rows, _stack([cache / f"{_safe(r['clip_id'])}.npz" for r in rows])


def rendered_targets(rows: list[dict[str, str]]) -> tuple[np.ndarray, np.ndarray]:
    Y = np.zeros((len(rows), len(LABELS)))
    for i, r in enumerate(rows):
        Y[i, GENRES.index(r["genre"])] = 1
        for m in filter(None, r["moods"].split(";")):
            Y[i, len(GENRES) + MOODS.index(m)] = 1
    return Y, np.ones_like(Y)


def teacher_targets(a: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Soft genre targets from the teachers' tags; moods and unnamed genres are left unlabelled."""
    Y, M = np.zeros((len(a["msd_tags"]), len(LABELS))), np.zeros((len(a["msd_tags"]), len(LABELS)))
    for g, (msd, mtt) in TEACHER_GENRES.items():
        parts = [a["msd_tags"][:, [MSD.index(t) for t in msd]].max(axis=1)] if msd else []
        parts += [a["mtt_tags"][:, [MTT.index(t) for t in mtt]].max(axis=1)] if mtt else []
        Y[:, GENRES.index(g)] = np.mean(parts, axis=0)
        M[:, GENRES.index(g)] = 1
    return Y, M


def fourq_targets(rows: list[dict[str, str]], teachers: tuple[np.ndarray, np.ndarray] | None = None,
                  ) -> tuple[np.ndarray, np.ndarray]:
    """AllMusic genres -> ours, quadrant -> moods. Pop/Rock names pop or rock: those two cells take the
    teachers' soft targets when given, else stay unlabelled."""
    Y, M = np.zeros((len(rows), len(LABELS))), np.zeros((len(rows), len(LABELS)))
    for i, r in enumerate(rows):
        named = set(filter(None, r["genres"].split(";")))
        M[i, : len(GENRES)] = 1
        for am, ours in ALLMUSIC_TO_OURS.items():
            if am not in named:
                continue
            if len(ours) > 1:
                cols = [GENRES.index(g) for g in ours]
                M[i, cols] = 0
                if teachers is not None:
                    Y[i, cols], M[i, cols] = teachers[0][i, cols], 1
            else:
                Y[i, GENRES.index(ours[0])] = 1
        yes, no = QUADRANT_MOODS[r["quadrant"]]
        for m in yes:
            Y[i, len(GENRES) + MOODS.index(m)], M[i, len(GENRES) + MOODS.index(m)] = 1, 1
        for m in no:
            M[i, len(GENRES) + MOODS.index(m)] = 1
    return Y, M


def load_4q() -> tuple[list[dict[str, str]], dict[str, np.ndarray]]:
    with DEV_CSV.open(newline="") as f:
        rows = [r for r in csv.DictReader(f) if (Q4_CACHE / f"{Path(r['mirror_path']).stem}.npz").is_file()]
    return rows, _stack([Q4_CACHE / f"{Path(r['mirror_path']).stem}.npz" for r in rows])


def auc(y: np.ndarray, s: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, s))


def score_4q(rows: list[dict[str, str]], P: np.ndarray) -> dict[str, float]:
    """ROC-AUC per AllMusic genre with >= 5 clips (our score: the largest mapped label), macro."""
    named = [set(filter(None, r["genres"].split(";"))) for r in rows]
    out = {}
    for am, ours in ALLMUSIC_TO_OURS.items():
        y = np.array([am in n for n in named])
        if y.sum() >= 5 and (~y).sum() >= 5:
            out[am] = auc(y, P[:, [GENRES.index(g) for g in ours]].max(axis=1))
    eight = [g for g in out if g not in ("Latin", "Reggae", "Classical", "New Age")]
    out["macro"] = float(np.mean([out[g] for g in out]))
    out["macro8"] = float(np.mean([out[g] for g in eight]))
    quads = np.array([r["quadrant"] for r in rows])
    mood = {m: P[:, len(GENRES) + MOODS.index(m)] for m in MOODS}
    out["Q1 happy"] = auc(quads == "Q1", mood["happy"])
    out["Q2 tense"] = auc(quads == "Q2", mood["tense"])
    out["Q3 sad"] = auc(quads == "Q3", mood["sad"])
    out["Q4 calm"] = auc(quads == "Q4", mood["calm"])
    return out


def score_rendered(Y: np.ndarray, P: np.ndarray) -> dict[str, float]:
    g = [auc(Y[:, j], P[:, j]) for j in range(len(GENRES)) if 0 < Y[:, j].sum() < len(Y)]
    m = [auc(Y[:, j], P[:, j]) for j in range(len(GENRES), len(LABELS)) if 0 < Y[:, j].sum() < len(Y)]
    return {"genre": float(np.mean(g)), "mood": float(np.mean(m))}


def genre_ece(rows: list[dict[str, str]], P: np.ndarray) -> float:
    """ECE (15 bins) over the genre cells a 4Q clip's AllMusic genres decide (not pop/rock of Pop/Rock clips)."""
    from audiotaste.tagger.calibration import expected_calibration_error

    Y, M = fourq_targets(rows)
    keep = M[:, : len(GENRES)] > 0
    return float(expected_calibration_error(P[:, : len(GENRES)][keep], Y[:, : len(GENRES)][keep], n_bins=15))


def reliability(rows: list[dict[str, str]], P: np.ndarray) -> dict[str, object]:
    """Reliability bins (5) of the genre cells the AllMusic labels decide and the mood cells the quadrants decide."""
    from audiotaste.tagger.calibration import reliability_bins

    Y, M = fourq_targets(rows)
    g, m = slice(0, len(GENRES)), slice(len(GENRES), len(LABELS))
    return {
        "genre": reliability_bins(P[:, g][M[:, g] > 0], Y[:, g][M[:, g] > 0], n_bins=5),
        "mood": reliability_bins(P[:, m][M[:, m] > 0], Y[:, m][M[:, m] > 0], n_bins=5),
        "data": f"{len(rows)} real 4Q dev clips of artists the head was not fitted on (AllMusic genres; "
                "moods from the Russell quadrants)",
    }


def fit_recipe(parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, bool]], *, experts: int, l2: float,
               epochs: int) -> TagHead:
    """A head fitted on ``(X, Y, M, recorded)`` sources stacked, with the domain classifier."""
    X, Y, M = (np.vstack([p[i] for p in parts]) for i in range(3))
    real = np.concatenate([np.full(len(p[0]), p[3]) for p in parts])
    return TagHead(experts=experts, l2=l2, epochs=epochs).fit(X, Y, M, real=real)


def with_prior_blend(head: TagHead, fixed: list[tuple[np.ndarray, np.ndarray, np.ndarray, bool]],
                     Xq: np.ndarray, Yq: np.ndarray, Mq: np.ndarray, groups: np.ndarray, *, experts: int,
                     l2: float, epochs: int) -> TagHead:
    """``head`` with the prior blend chosen on out-of-fold logits of the labelled clips ``Xq``: five
    heads, each fitted on ``fixed`` plus four artist-grouped folds of them."""
    from sklearn.model_selection import GroupKFold

    Z, D = np.zeros_like(Yq), np.zeros(len(Yq))
    for tr, te in GroupKFold(n_splits=5).split(Xq, groups=groups):
        fold = fit_recipe([*fixed, (Xq[tr], Yq[tr], Mq[tr], True)], experts=experts, l2=l2, epochs=epochs)
        Z[te], D[te] = fold.decision_function(Xq[te]), fold.real_weight(Xq[te])
    return head.fit_prior_blend(Xq, Z, D, Yq, Mq)


def _line(name: str, s: dict[str, float], r: dict[str, float], ece: float) -> str:
    return (f"{name:34s} 4Q select macro {s['macro']:.3f} macro8 {s['macro8']:.3f} ECE {ece:.3f} | rendered genre "
            f"{r['genre']:.3f} mood {r['mood']:.3f} | " + " ".join(f"{k}={v:.3f}" for k, v in s.items()
                                                                if k not in ("macro", "macro8")))  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", nargs="*", default=["1,2,1"], help="rendered,real-labels,distilled")
    ap.add_argument("--experts", type=int, nargs="*", default=[2])
    ap.add_argument("--l2", type=float, nargs="*", default=[3e-3])
    ap.add_argument("--epochs", type=int, default=800)
    ap.add_argument("--blend", action="store_true", help="also fit the calibrated by-name prior blend (1.1.0)")
    ap.add_argument("--test", action="store_true", help="score on the rendered test split instead of val (once)")
    ap.add_argument("--save", type=Path, default=None, help="refit the (single) recipe on every real dev clip, write here")
    ap.add_argument("--version", default="1.0.0")
    args = ap.parse_args(argv)

    rt_rows, rt = load_cache("rendered_train")
    rv_rows, rv = load_cache("rendered_test" if args.test else "rendered_val")
    deb_rows, deb = load_cache("deb")
    q_rows, q = load_4q()
    half = np.array([artist_half(r["artist"]) for r in q_rows])
    groups = np.array([r["artist"].strip().lower() for r in q_rows])
    fit, sel = half == "fit", half == "select"
    sel_rows = [r for r, k in zip(q_rows, sel, strict=True) if k]
    split = "test (sf_GMbank)" if args.test else "val (OPL-3)"
    print(f"rendered train {len(rt_rows)}, rendered {split} {len(rv_rows)}, Debian {len(deb_rows)}, "
          f"4Q fit {fit.sum()} / select {sel.sum()}")
    Yr, Mr = rendered_targets(rt_rows)
    Yd, Md = teacher_targets(deb)
    Yq, Mq = fourq_targets(q_rows, teacher_targets(q))
    Yv, _ = rendered_targets(rv_rows)
    Xr, Xq, Xd = stack_features(rt), stack_features(q), stack_features(deb)
    def by_name(X: np.ndarray) -> np.ndarray:  # the student's prior columns as probabilities
        return 1 / (1 + np.exp(-X[:, -N_PRIOR_COLUMNS // 2 :]))

    student = by_name(Xq)
    print(_line("default CNN alone", score_4q(sel_rows, q["default_tags"][sel]), score_rendered(Yv, rv["default_tags"]),
                genre_ece(sel_rows, q["default_tags"][sel])))
    print(_line("student tags by name", score_4q(sel_rows, student[sel]),
                score_rendered(Yv, by_name(stack_features(rv))), genre_ece(sel_rows, student[sel])))
    recipes = [(w, k, l2) for w in args.weights for k in args.experts for l2 in args.l2]
    metrics: dict[str, object] = {}
    for w, k, l2 in recipes:
        wr, wq, wd = map(float, w.split(","))
        fixed = [(Xr, Yr, Mr * wr, False), (Xd, Yd, Md * wd, True)]
        head = fit_recipe([*fixed, (Xq[fit], Yq[fit], Mq[fit] * wq, True)], experts=k, l2=l2, epochs=args.epochs)
        heads = [("head", head)]
        if args.blend:
            blended = with_prior_blend(copy.deepcopy(head), fixed, Xq[fit], Yq[fit], Mq[fit] * wq, groups[fit],
                                       experts=k, l2=l2, epochs=args.epochs)  # fmt: skip
            heads.append(("head+prior", blended))
            assert blended.blend_ is not None
            print("  prior blend weights: " + ", ".join(f"{lab}={b:.1f}" for lab, b in zip(LABELS, blended.blend_,
                                                                                       strict=True) if b))  # fmt: skip
        for name, h in heads:
            p_sel = h.predict_proba(Xq[sel])
            s, r = score_4q(sel_rows, p_sel), score_rendered(Yv, h.predict_proba(stack_features(rv)))
            ece = genre_ece(sel_rows, p_sel)
            print(_line(f"{name} w={w} k={k} l2={l2:g}", s, r, ece), flush=True)
            metrics = {"fitted_on": "4Q fit half + rendered train + Debian", "4q_select_genre_auc": s,
                       "4q_select_genre_ece": ece, "reliability": reliability(sel_rows, p_sel), f"rendered_{'test' if args.test else 'val'}_auc": r}  # fmt: skip
    if args.save is None:
        return 0
    if len(recipes) != 1:
        raise SystemExit("--save wants one recipe")
    (w, k, l2), = recipes
    wr, wq, wd = map(float, w.split(","))
    fixed = [(Xr, Yr, Mr * wr, False), (Xd, Yd, Md * wd, True)]
    head = fit_recipe([*fixed, (Xq, Yq, Mq * wq, True)], experts=k, l2=l2, epochs=args.epochs)
    if args.blend:
        head = with_prior_blend(head, fixed, Xq, Yq, Mq * wq, groups, experts=k, l2=l2, epochs=args.epochs)
    from audiotaste.tagger import load_model

    cnn = load_model("default")
    card = {
        "name": "tags", "version": args.version, "cnn": f"{cnn.name}@{cnn.version}",
        "student": "musicnn-msd-student", "recipe": {"weights": w, "experts": k, "l2": l2, "epochs": args.epochs, "prior_blend": args.blend},
        "training": {"rendered_train_clips": len(rt_rows), "real_4q_dev_clips": len(q_rows),
                     "debian_unlabelled_clips": len(deb_rows)},
        "metrics": metrics,
        "prior_blend": {} if head.blend_ is None else {lab: float(b) for lab, b in zip(LABELS, head.blend_, strict=True) if b},
        "reads": "the musicnn student's mean embedding and tags, the default CNN's embedding and tags, 11 descriptors",
        "trained_with": "rendered corpus exact labels; 4Q dev AllMusic genres and quadrants (all 461 dev clips); "
                        "Debian free-music tracks with the musicnn teachers' tags as soft targets",
    }  # fmt: skip
    head.save(args.save, card)
    print(f"wrote {args.save}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
