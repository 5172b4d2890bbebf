"""Fit the speech and percussion checks (``features.nonmusic``) on the fit half; read the held half once.

Reads ``scripts/nonmusic_features.py``'s CSV. Each check is a logistic regression on standardised
summaries (class-balanced, L2), positives against real music (the speech check also against drums,
so that a groove is never called speech). Its threshold is chosen on the fit half from out-of-fold
probabilities (5 folds grouped by speaker, kit or artist): the lowest that flags at most
``--max-music`` of the fit half's music. Prints the constants to paste into ``features/nonmusic.py``::

    python scripts/fit_nonmusic.py /work/data/speech/summaries.csv [--held]
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold

from audiotaste.features.nonmusic import MAX_SPEECH_PULSE, Z_CLIP


def _fit(x: np.ndarray, y: np.ndarray, kinds: np.ndarray, c: float) -> tuple[np.ndarray, np.ndarray, LogisticRegression]:
    """Standardise, then fit with each kind weighing the same in all (positives half, each negative
    kind an equal share of the other half): 64 drum clips must count as much as 666 music clips."""
    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-9
    names, counts = np.unique(kinds, return_counts=True)
    n_neg = len(set(kinds[y == 0]))
    share = {k: (0.5 if y[kinds == k][0] == 1 else 0.5 / n_neg) / n for k, n in zip(names, counts, strict=True)}
    weight = np.array([share[k] for k in kinds]) * len(kinds)
    model = LogisticRegression(C=c, max_iter=5000).fit(np.clip((x - mean) / scale, -Z_CLIP, Z_CLIP), y,
                                                      sample_weight=weight)
    return mean, scale, model


def _prob(fitted: tuple[np.ndarray, np.ndarray, LogisticRegression], x: np.ndarray) -> np.ndarray:
    mean, scale, model = fitted
    return model.predict_proba(np.clip((x - mean) / scale, -Z_CLIP, Z_CLIP))[:, 1]


def check(df: pd.DataFrame, names: list[str], positive: str, negatives: tuple[str, ...], *, c: float,
          max_music: float, held: bool) -> None:
    fit = df[(df.split == "fit") & df.kind.isin((positive, *negatives))]
    x, y, groups = fit[names].to_numpy(), (fit.kind == positive).to_numpy().astype(int), fit.group.to_numpy()
    kinds = fit.kind.to_numpy()
    oof = np.zeros(len(fit))
    for tr, te in GroupKFold(5).split(x, y, groups):
        oof[te] = _prob(_fit(x[tr], y[tr], kinds[tr], c), x[te])
    music = (fit.kind == "music").to_numpy()
    # the lowest threshold that keeps the fit half's false flags on music at or under max_music
    if positive == "speech":  # the check's gate: speech has no steady pulse (nonmusic.MAX_SPEECH_PULSE)
        oof[fit.pulse.to_numpy() >= MAX_SPEECH_PULSE] = 0.0
    threshold = max(0.5, float(np.quantile(oof[music], 1.0 - max_music)) + 1e-6)
    caught = float((oof[y == 1] >= threshold).mean())
    print(f"\n== {positive}: fit OOF, threshold {threshold:.4f}: {positive} caught {caught:.3f} "
          f"({(y == 1).sum()} clips), music flagged {(oof[music] >= threshold).mean():.4f} ({music.sum()})")
    for kind in negatives:
        sel = (fit.kind == kind).to_numpy()
        print(f"   {kind} flagged {(oof[sel] >= threshold).mean():.3f} ({sel.sum()})")
    fitted = _fit(x, y, kinds, c)
    mean, scale, model = fitted
    print("   weights:", dict(zip(names, np.round(model.coef_[0], 3), strict=True)), "bias", round(model.intercept_[0], 3))
    print(f"   _Logistic({tuple(np.round(mean, 5).tolist())}, {tuple(np.round(scale, 5).tolist())},\n"
          f"             {tuple(np.round(model.coef_[0], 4).tolist())}, {model.intercept_[0]:.4f}, {threshold:.4f})")
    if not held:
        return
    test = df[df.split == "held"]
    p = _prob(fitted, test[names].to_numpy())
    if positive == "speech":
        p[test.pulse.to_numpy() >= MAX_SPEECH_PULSE] = 0.0
    print(f"   HELD-OUT (threshold {threshold:.4f}):")
    for kind in ("speech", "drums", "music"):
        sel = (test.kind == kind).to_numpy()
        print(f"     {kind}: flagged {(p[sel] >= threshold).mean():.4f} ({(p[sel] >= threshold).sum()}/{sel.sum()})")
    for g in sorted(set(test.group[test.kind == positive])):
        sel = (test.group == g).to_numpy()
        print(f"       {g}: {(p[sel] >= threshold).mean():.3f} of {sel.sum()}")
    fl = test[(test.kind == "music").to_numpy() & (p >= threshold)]
    for path in fl.path:
        print("       flagged music:", path)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("csv")
    ap.add_argument("--names", default="")
    ap.add_argument("--c", type=float, default=1.0)
    ap.add_argument("--max-music", type=float, default=0.005)
    ap.add_argument("--held", action="store_true", help="also read the held half (once, at the end)")
    args = ap.parse_args()
    df = pd.read_csv(args.csv)
    from audiotaste.features.nonmusic import NAMES

    names = args.names.split(",") if args.names else list(NAMES)
    print(df.groupby(["kind", "split"]).size())
    print(df[df.split == "fit"].groupby("kind")[names].median().T.round(3))
    check(df, names, "speech", ("music", "drums"), c=args.c, max_music=args.max_music, held=args.held)
    check(df, names, "drums", ("music",), c=args.c, max_music=args.max_music, held=args.held)


if __name__ == "__main__":
    main()
