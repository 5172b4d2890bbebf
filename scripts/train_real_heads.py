"""Fit the valence/arousal head on real annotations and score it beside the taggers mapped by name.

Data: the real 4Q dev clips (``/work/shared/real_dev/4q_dev.csv``: valence and arousal signs,
Russell quadrants, AllMusic genres), their features cached by ``scripts/extract_real_features.py``.
They are split by artist (sha1 of the lower-cased name, even first byte = fit) into a *fit* half and a
*select* half; no artist is in both. Everything is fitted on the fit half (C by artist-grouped CV,
Platt scaling on out-of-fold logits); the select half is only scored.

Prints, for the select half: valence / arousal ROC-AUC, quadrant macro ROC-AUC (one quadrant vs the
rest, scored by :func:`audiotaste.tagger.affect.quadrant_probs`), ECE (15 bins) of the calibrated
heads, beside (a) our default tagger's moods mapped by name, (b) our moods placed on Russell's plane,
(c) the musicnn teachers' and student's tags mapped by name; and genre ROC-AUC per AllMusic genre
mapped by name onto our 13, for the default tagger, the student and the teachers.

Usage::

    python scripts/train_real_heads.py                    # score every feature set
    python scripts/train_real_heads.py --save models/affect --features affect
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score

from audiotaste.tagger.affect import (
    MAX_PATCHES,
    MOOD_VA,
    QUADRANTS,
    AffectHead,
    mood_va,
    quadrant_probs,
)
from audiotaste.tagger.calibration import expected_calibration_error, reliability_bins

DEV_CSV = Path("/work/shared/real_dev/4q_dev.csv")
CACHE = Path("/work/data/cache/affect/4q_dev")
DESC_NAMES = (
    "tempo_bpm", "tempo_confidence", "mode", "key_confidence", "loudness_lufs", "loudness_range_lu",
    "energy", "danceability", "brightness", "onset_rate", "dynamic_complexity",
)  # fmt: skip  (the order of scripts/extract_real_features.py)
GENRES = ["ambient", "blues", "classical", "country", "electronic", "folk", "hiphop", "jazz", "latin",
          "pop", "reggae", "rock", "soul"]  # fmt: skip
MOODS = ["calm", "energetic", "happy", "sad", "tender", "tense"]
DEFAULT_TAGS = [f"genre.{g}" for g in GENRES] + [f"mood.{m}" for m in MOODS]
MSD = ['rock', 'pop', 'alternative', 'indie', 'electronic', 'female vocalists', 'dance', '00s', 'alternative rock', 'jazz', 'beautiful', 'metal', 'chillout', 'male vocalists', 'classic rock', 'soul', 'indie rock', 'Mellow', 'electronica', '80s', 'folk', '90s', 'chill', 'instrumental', 'punk', 'oldies', 'blues', 'hard rock', 'ambient', 'acoustic', 'experimental', 'female vocalist', 'guitar', 'Hip-Hop', '70s', 'party', 'country', 'easy listening', 'sexy', 'catchy', 'funk', 'electro', 'heavy metal', 'Progressive rock', '60s', 'rnb', 'indie pop', 'sad', 'House', 'happy']  # fmt: skip
MTT = ['guitar', 'classical', 'slow', 'techno', 'strings', 'drums', 'electronic', 'rock', 'fast', 'piano', 'ambient', 'beat', 'violin', 'vocal', 'synth', 'female', 'indian', 'opera', 'male', 'singing', 'vocals', 'no vocals', 'harpsichord', 'loud', 'quiet', 'flute', 'woman', 'male vocal', 'no vocal', 'pop', 'soft', 'sitar', 'solo', 'man', 'classic', 'choir', 'voice', 'new age', 'dance', 'male voice', 'female vocal', 'beats', 'harp', 'cello', 'no voice', 'weird', 'country', 'metal', 'female voice', 'choral']  # fmt: skip

#: AllMusic genre -> our genre labels (score = the highest of them); unmapped ones are not scored.
ALLMUSIC_TO_OURS = {"Pop/Rock": ["pop", "rock"], "Jazz": ["jazz"], "Electronic": ["electronic"],
                    "R&B": ["soul"], "Country": ["country"], "Blues": ["blues"], "Rap": ["hiphop"],
                    "Folk": ["folk"], "Latin": ["latin"], "Reggae": ["reggae"], "New Age": ["ambient"],
                    "Classical": ["classical"]}  # fmt: skip
#: AllMusic genre -> musicnn tags of each teacher (by name; the highest counts)
ALLMUSIC_TO_MSD = {"Pop/Rock": ["rock", "pop", "alternative", "indie", "classic rock", "hard rock"],
                   "Jazz": ["jazz"], "Electronic": ["electronic", "electronica", "electro", "House", "dance"],
                   "R&B": ["soul", "rnb", "funk"], "Country": ["country"], "Blues": ["blues"],
                   "Rap": ["Hip-Hop"], "Folk": ["folk"], "New Age": ["ambient", "chillout"]}  # fmt: skip
ALLMUSIC_TO_MTT = {"Pop/Rock": ["rock", "pop", "metal"], "Electronic": ["electronic", "techno", "dance"],
                   "Country": ["country"], "New Age": ["new age", "ambient"],
                   "Classical": ["classical"]}  # fmt: skip
# affect by name: our moods (the issue's mapping) and the teachers' tags
VALENCE_OURS = ({"happy": 1, "tender": 1, "sad": -1, "tense": -1})
AROUSAL_OURS = ({"energetic": 1, "tense": 1, "calm": -1, "tender": -1})
VALENCE_MSD = {"happy": 1, "party": 1, "catchy": 1, "sad": -1}
AROUSAL_MSD = {"party": 1, "dance": 1, "hard rock": 1, "metal": 1, "heavy metal": 1, "punk": 1,
               "Mellow": -1, "chill": -1, "chillout": -1, "easy listening": -1, "beautiful": -1}  # fmt: skip
AROUSAL_MTT = {"loud": 1, "fast": 1, "drums": 1, "beat": 1, "techno": 1, "metal": 1, "rock": 1,
               "soft": -1, "quiet": -1, "slow": -1, "ambient": -1, "new age": -1, "classical": -1}  # fmt: skip


def artist_half(artist: str) -> str:
    """``"fit"`` or ``"select"``: the first byte of sha1(lower-cased artist) decides, so every clip of
    an artist lands in the same half, on every machine."""
    return "fit" if hashlib.sha1(artist.strip().lower().encode()).digest()[0] % 2 == 0 else "select"


def load_rows() -> tuple[list[dict[str, str]], dict[str, np.ndarray]]:
    with DEV_CSV.open(newline="") as f:
        rows = [r for r in csv.DictReader(f) if (CACHE / f"{Path(r['mirror_path']).stem}.npz").is_file()]
    arrays: dict[str, list[np.ndarray]] = {}
    for r in rows:
        z = np.load(CACHE / f"{Path(r['mirror_path']).stem}.npz")
        for k in z.files:
            arrays.setdefault(k, []).append(z[k])
    return rows, {k: np.stack(v) for k, v in arrays.items()}


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-4, 1 - 1e-4)
    return np.log(p / (1 - p))


def feature_sets(a: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    desc = a["desc"].astype(np.float64)
    desc[~np.isfinite(desc)] = np.nan
    sets = {
        "affect": np.hstack([a["affect_emb"], logit(a["affect_tags"]), desc]),
        "default": np.hstack([a["default_emb"], logit(a["default_tags"]), desc]),
        "default-tags+desc": np.hstack([logit(a["default_tags"]), desc]),
        "student": np.hstack([a["msd_student_emb"], logit(a["msd_student_tags"]), desc]),
        "default+student": np.hstack([a["default_emb"], logit(a["default_tags"]), a["msd_student_emb"],
                                      logit(a["msd_student_tags"]), desc]),  # fmt: skip
    }
    if "msd_emb" in a and "mtt_emb" in a:
        sets["teachers"] = np.hstack([a["msd_emb"], logit(a["msd_tags"]), a["mtt_emb"], logit(a["mtt_tags"]), desc])
    return sets


def ece(p: np.ndarray, y: np.ndarray, bins: int = 15) -> float:
    """Expected calibration error of binary probabilities, equal-width bins (the package's)."""
    return expected_calibration_error(p, y, n_bins=bins)


def ece_floor(p: np.ndarray, draws: int = 2000, seed: int = 0) -> float:
    """Median ECE of *perfectly calibrated* probabilities ``p`` (labels drawn as Bernoulli(p)): the
    ECE that sampling noise alone gives on a set this size."""
    rng = np.random.default_rng(seed)
    return float(np.median([ece(p, (rng.random(len(p)) < p).astype(float)) for _ in range(draws)]))


def rank01(x: np.ndarray) -> np.ndarray:
    """Ranks scaled to [0, 1] (to pool scores of different scales before combining)."""
    return np.argsort(np.argsort(x)) / max(1, len(x) - 1)


def quadrant_auc(v: np.ndarray, a: np.ndarray, quads: np.ndarray) -> tuple[float, dict[str, float]]:
    q = np.array([[quadrant_probs(vi, ai)[name] for name in QUADRANTS] for vi, ai in zip(v, a, strict=True)])
    per = {name: float(roc_auc_score(quads == name, q[:, j])) for j, name in enumerate(QUADRANTS)}
    return float(np.mean(list(per.values()))), per


def by_name(tags: np.ndarray, names: list[str], weights: dict[str, int]) -> np.ndarray:
    return sum(w * tags[:, names.index(n)] for n, w in weights.items())  # type: ignore[return-value]


def choose_C(X: np.ndarray, y: np.ndarray, groups: np.ndarray, grid: list[float]) -> tuple[float, dict[float, float]]:
    """C with the best mean (valence, arousal) ROC-AUC of artist-grouped 5-fold CV on the fit half."""
    from sklearn.model_selection import GroupKFold

    scores = {}
    for C in grid:
        oof = np.zeros((len(X), 2))
        for tr, te in GroupKFold(n_splits=5).split(X, y[:, 0], groups):
            oof[te] = AffectHead(C=C).fit(X[tr], y[tr], groups=groups[tr]).decision_function(X[te])
        scores[C] = float(np.mean([roc_auc_score(y[:, t], oof[:, t]) for t in range(2)]))
    return max(scores, key=lambda c: scores[c]), scores


def affect_report(v: np.ndarray, a: np.ndarray, y: np.ndarray, quads: np.ndarray) -> dict[str, float]:
    macro, per = quadrant_auc(v, a, quads)
    return {"valence_auc": float(roc_auc_score(y[:, 0], v)), "arousal_auc": float(roc_auc_score(y[:, 1], a)),
            "quadrant_macro_auc": macro, **{f"{k}_auc": val for k, val in per.items()}}  # fmt: skip


def genre_report(rows: list[dict[str, str]], a: dict[str, np.ndarray], sel: np.ndarray) -> list[tuple]:
    """Per AllMusic genre: n positives in the select half, ROC-AUC of default / student / MSD / MTT / pooled."""
    out = []
    genres_of = [set(filter(None, r["genres"].split(";"))) for r in rows]
    for am, ours in ALLMUSIC_TO_OURS.items():
        y = np.array([am in g for g in genres_of])[sel]
        if y.sum() < 5 or (~y).sum() < 5:
            continue
        d = a["default_tags"][sel][:, [GENRES.index(g) for g in ours]].max(axis=1)
        row = [am, int(y.sum()), roc_auc_score(y, d)]
        scores = []
        for key, names, table in (("msd_student", MSD, ALLMUSIC_TO_MSD), ("msd", MSD, ALLMUSIC_TO_MSD),
                                  ("mtt", MTT, ALLMUSIC_TO_MTT)):  # fmt: skip
            if am in table and f"{key}_tags" in a:
                s = a[f"{key}_tags"][sel][:, [names.index(n) for n in table[am]]].max(axis=1)
                row.append(roc_auc_score(y, s))
                if key != "msd_student":
                    scores.append(rank01(s))
            else:
                row.append(float("nan"))
        row.append(roc_auc_score(y, np.mean(scores, axis=0)) if scores else float("nan"))
        out.append(tuple(row))
    return out


def genre_heads(rows: list[dict[str, str]], a: dict[str, np.ndarray], fit: np.ndarray, sel: np.ndarray,
                groups: np.ndarray) -> dict[str, dict[str, float]]:
    """Select-half ROC-AUC of per-genre logistic heads fitted on the fit half's AllMusic labels.

    One C per feature set, by artist-grouped 5-fold CV on the fit half (mean AUC over genres)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    genres_of = [set(filter(None, r["genres"].split(";"))) for r in rows]
    names = [g for g in ALLMUSIC_TO_OURS
             if sum(g in genres_of[i] for i in np.flatnonzero(fit)) >= 15
             and sum(g in genres_of[i] for i in np.flatnonzero(sel)) >= 5]  # fmt: skip
    Y = np.array([[g in gs for g in names] for gs in genres_of], int)
    desc = a["desc"].astype(np.float64)
    desc[~np.isfinite(desc)] = 0.0
    sets = {"default emb+tags": np.hstack([a["default_emb"], logit(a["default_tags"])]),
            "student emb+tags": np.hstack([a["msd_student_emb"], logit(a["msd_student_tags"])])}
    if "msd_emb" in a:
        sets["teachers emb+tags"] = np.hstack([a["msd_emb"], logit(a["msd_tags"]), a["mtt_emb"], logit(a["mtt_tags"])])
    out: dict[str, dict[str, float]] = {}
    for set_name, X in sets.items():
        def model(C: float) -> Any:
            return make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=3000))
        cv = {}
        for C in (0.003, 0.01, 0.03, 0.1):
            aucs = []
            for j in range(len(names)):
                oof = np.zeros(fit.sum())
                Xf, yf, gf = X[fit], Y[fit, j], groups[fit]
                for tr, te in GroupKFold(n_splits=5).split(Xf, yf, gf):
                    oof[te] = model(C).fit(Xf[tr], yf[tr]).decision_function(Xf[te])
                aucs.append(roc_auc_score(yf, oof))
            cv[C] = float(np.mean(aucs))
        C = max(cv, key=lambda c: cv[c])
        out[set_name] = {g: float(roc_auc_score(Y[sel, j], model(C).fit(X[fit], Y[fit, j]).decision_function(X[sel])))
                         for j, g in enumerate(names)}  # fmt: skip
        out[set_name]["C"] = C
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--features", default=None, help="only this feature set (default: all)")
    ap.add_argument("--save", type=Path, default=None, help="write the head of --features here")
    ap.add_argument("--json", type=Path, default=None, help="write the measured numbers here")
    args = ap.parse_args(argv)

    rows, a = load_rows()
    halves = np.array([artist_half(r["artist"]) for r in rows])
    fit, sel = halves == "fit", halves == "select"
    y = np.array([[int(r["valence"]) > 0, int(r["arousal"]) > 0] for r in rows], int)
    quads = np.array([r["quadrant"] for r in rows])
    groups = np.array([r["artist"].strip().lower() for r in rows])
    print(f"{len(rows)} clips cached: fit {fit.sum()} ({len(set(groups[fit]))} artists), "
          f"select {sel.sum()} ({len(set(groups[sel]))} artists); select quadrants "
          f"{ {q: int((quads[sel] == q).sum()) for q in QUADRANTS} }")  # fmt: skip
    results: dict[str, dict[str, float]] = {}

    # --- by name, nothing fitted ---------------------------------------------------------------
    moods = a["default_tags"][:, 13:]
    v_ours, a_ours = by_name(moods, MOODS, VALENCE_OURS), by_name(moods, MOODS, AROUSAL_OURS)
    results["default moods by name"] = affect_report(rank01(v_ours[sel]), rank01(a_ours[sel]), y[sel], quads[sel])
    va = np.array([mood_va(dict(zip(MOODS, m, strict=True))) for m in moods])
    results["default moods on Russell's plane"] = affect_report(va[sel, 0], va[sel, 1], y[sel], quads[sel])
    if "msd_tags" in a:
        vm, am_ = by_name(a["msd_tags"], MSD, VALENCE_MSD), by_name(a["msd_tags"], MSD, AROUSAL_MSD)
        results["musicnn-msd by name"] = affect_report(rank01(vm[sel]), rank01(am_[sel]), y[sel], quads[sel])
        at = by_name(a["mtt_tags"], MTT, AROUSAL_MTT)
        results["musicnn-mtt by name (arousal; valence from msd)"] = affect_report(
            rank01(vm[sel]), rank01(at[sel]), y[sel], quads[sel])
        pooled_a = (rank01(am_[sel]) + rank01(at[sel])) / 2
        results["teachers pooled by name"] = affect_report(rank01(vm[sel]), rank01(pooled_a), y[sel], quads[sel])
    vs, as_ = by_name(a["msd_student_tags"], MSD, VALENCE_MSD), by_name(a["msd_student_tags"], MSD, AROUSAL_MSD)
    results["musicnn-msd-student by name"] = affect_report(rank01(vs[sel]), rank01(as_[sel]), y[sel], quads[sel])

    # --- learned heads ---------------------------------------------------------------------------
    grid = [0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0]
    heads = {}
    reliability: dict[str, Any] = {}
    for name, X in feature_sets(a).items():
        if args.features and name != args.features:
            continue
        C, cv = choose_C(X[fit], y[fit], groups[fit], grid)
        tag_names = {"affect": [f"tag.{t}" for t in MSD], "default": DEFAULT_TAGS}.get(name, ())
        head = AffectHead(C=C, tag_names=tag_names,
                          descriptor_names=DESC_NAMES).fit(X[fit], y[fit], groups=groups[fit])  # fmt: skip
        p = head.predict_proba(X[sel])
        rep = affect_report(p[:, 0], p[:, 1], y[sel], quads[sel])
        rep.update({"valence_ece": ece(p[:, 0], y[sel, 0]), "arousal_ece": ece(p[:, 1], y[sel, 1]),
                    "valence_ece_floor": ece_floor(p[:, 0]), "arousal_ece_floor": ece_floor(p[:, 1]),
                    "C": C, "cv_auc": cv[C], "n_features": X.shape[1]})  # fmt: skip
        results[f"head on {name}"] = rep
        heads[name] = (head, rep)
        if name == "affect":  # the same recipe, every dev clip predicted by a head fit without its artist
            from sklearn.model_selection import GroupKFold

            oof = np.zeros((len(X), 2))
            for tr, te in GroupKFold(n_splits=5).split(X, y[:, 0], groups):
                oof[te] = AffectHead(C=C).fit(X[tr], y[tr], groups=groups[tr]).predict_proba(X[te])
            cv_rep = affect_report(oof[:, 0], oof[:, 1], y, quads)
            cv_rep.update({"valence_ece": ece(oof[:, 0], y[:, 0]), "arousal_ece": ece(oof[:, 1], y[:, 1]),
                           "valence_ece_floor": ece_floor(oof[:, 0]), "arousal_ece_floor": ece_floor(oof[:, 1])})
            results[f"head on {name}: all {len(X)} dev clips, artist-grouped 5-fold CV"] = cv_rep
            print(f"reliability of the {len(X)} cross-validated predictions (5 equal-width bins):")
            print("| target | bin | n | mean probability | positive rate |\n|---|---|---|---|---|")
            for t, tname in enumerate(("valence", "arousal")):
                r = reliability_bins(oof[:, t], y[:, t], n_bins=5)
                for b, (n, mp, ob) in enumerate(zip(r["count"], r["mean_predicted"], r["observed"], strict=True)):
                    if n:
                        print(f"| {tname} | {b / 5:.1f}-{(b + 1) / 5:.1f} | {n} | {mp:.3f} | {ob:.3f} |")
            rep["all_dev_cv"] = cv_rep  # type: ignore[assignment]
            reliability = {
                "data": f"all {len(X)} 4Q dev clips, each predicted by a head fitted without its "
                        "artist (artist-grouped 5-fold CV)",
                "valence": reliability_bins(oof[:, 0], y[:, 0], n_bins=10),
                "arousal": reliability_bins(oof[:, 1], y[:, 1], n_bins=10),
            }  # fmt: skip

    cols = ["valence_auc", "arousal_auc", "quadrant_macro_auc", "Q1_auc", "Q2_auc", "Q3_auc", "Q4_auc",
            "valence_ece", "arousal_ece", "valence_ece_floor", "arousal_ece_floor"]  # fmt: skip
    print(f"\n## affect, 4Q dev select half ({sel.sum()} clips, artists unseen in the fit half)")
    print("| system | " + " | ".join(c.replace("_auc", "").replace("_", " ") for c in cols) + " |")
    print("|---|" + "---|" * len(cols))
    for name, rep in results.items():
        cells = [f"{rep[c]:.3f}" if c in rep else "—" for c in cols]
        print(f"| {name} | " + " | ".join(cells) + " |")
    for name, (_, rep) in heads.items():
        print(f"head on {name}: C={rep['C']} (fit-half grouped CV AUC {rep['cv_auc']:.3f}), {rep['n_features']} features")

    print("\n## genre, 4Q dev select half, AllMusic genres mapped by name (ROC-AUC)")
    print("| AllMusic genre | n | default | student | musicnn-msd | musicnn-mtt | teachers pooled |")
    print("|---|---|---|---|---|---|---|")
    grows = genre_report(rows, a, sel)
    for r in grows:
        print(f"| {r[0]} | {r[1]} | " + " | ".join("—" if np.isnan(x) else f"{x:.3f}" for x in r[2:]) + " |")
    for label, keep in (("macro, genres with >= 30 clips", [r for r in grows if r[1] >= 30]),
                        ("macro, all scored", grows)):  # fmt: skip
        if keep:
            means = [np.nanmean([r[i] for r in keep]) for i in range(2, 7)]
            print(f"| {label} ({len(keep)}) | | " + " | ".join(f"{m:.3f}" for m in means) + " |")

    print("\n## genre heads fitted on the fit half's AllMusic labels (select-half ROC-AUC)")
    gh = genre_heads(rows, a, fit, sel, groups)
    gnames = [k for k in next(iter(gh.values())) if k != "C"]
    mapped = {r[0]: r[2] for r in grows}
    print("| features | C | " + " | ".join(gnames) + " | macro |")
    print("|---|---|" + "---|" * (len(gnames) + 1))
    print("| default tags mapped by name (no fit) | — | " + " | ".join(f"{mapped[g]:.3f}" for g in gnames)
          + f" | {np.mean([mapped[g] for g in gnames]):.3f} |")  # fmt: skip
    for name, per in gh.items():
        print(f"| {name} | {per['C']} | " + " | ".join(f"{per[g]:.3f}" for g in gnames)
              + f" | {np.mean([per[g] for g in gnames]):.3f} |")  # fmt: skip

    if args.json:
        args.json.write_text(json.dumps({"affect": results, "genre": [list(map(str, r)) for r in grows]}, indent=2))
    if args.save:
        if not args.features:
            print("--save needs --features", file=sys.stderr)
            return 2
        head, rep = heads[args.features]
        from audiotaste._paths import models_dir

        reads = "musicnn-msd-student" if args.features == "affect" else "default"
        reads_card = json.loads((models_dir() / reads / "card.json").read_text())
        head.tagger = f"{reads_card['name']}@{reads_card['version']}"
        today = dt.date.today().isoformat()
        card = {
            "name": "affect", "version": "1.1.0",
            "description": "valence (positive vs negative) and arousal (high vs low) as calibrated "
                           f"probabilities, from {head.tagger}'s embedding and tag logits (mean over at "
                           f"most {MAX_PATCHES} evenly spread 3-s patches per 2-min analysis segment, as "
                           "analyze computes them) and the analysis "
                           "descriptors: two L2 logistic regressions on standardised features + Platt scaling",
            "mood_placement": {m: {"valence": round(v, 3), "arousal": round(ar, 3)} for m, (v, ar) in MOOD_VA.items()},
            "training": {
                "data": "4Q audio emotion dataset (Panda, Malheiro & Paiva, IEEE TAFFC 2018), the dev half "
                        "listed in /work/shared/real_dev/4q_dev.csv (AllMusic 30-s previews, valence and "
                        "arousal signs from the dataset's quadrant annotations); fit half = artists with an "
                        "even first byte of sha1(lower-cased name)",
                "n_clips": {"fit": int(fit.sum()), "select": int(sel.sum())},
                "C_selected_by": "artist-grouped 5-fold CV ROC-AUC on the fit half",
                "calibration": "Platt scaling on artist-grouped 5-fold out-of-fold logits of the fit half",
                "command": f"python scripts/train_real_heads.py --features {args.features} --save {args.save}",
                "date": today,
            },
            "metrics": {"select_half": {k: round(float(v), 4) for k, v in rep.items() if k != "all_dev_cv"},
                        "all_dev_artist_cv": {k: round(float(v), 4) for k, v in rep.get("all_dev_cv", {}).items()},
                        "reliability": reliability,
                        "note": "select half of the 4Q dev clips: artists never in the fit half; "
                                "all_dev_artist_cv: the same recipe refit in 5 artist-grouped folds over all "
                                "dev clips, each clip scored by a head that never saw its artist; ECE with 15 "
                                "equal-width bins; *_ece_floor: median ECE of perfectly calibrated "
                                "probabilities on a set this size (sampling noise alone); quadrant scores are "
                                "products of the two probabilities (audiotaste.tagger.affect.quadrant_probs)"},
            "cost": f"at most {MAX_PATCHES} student patches per 2-min segment; analyze of a 3-min file "
                    "stays above 200x real time on one thread (docs/BENCHMARKS.md ## speed)",
            "valence_sense": "Spotify's: high = happy, cheerful, euphoric; low = sad, depressed, angry. "
                             "The value is the calibrated probability that the 4Q annotators' valence "
                             "sign would be positive; arousal likewise for high arousal",  # fmt: skip
            "licence": "weights: same as audiotaste; training audio not redistributed",
        }  # fmt: skip
        head.save(args.save, card)
        print(f"wrote {args.save}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
