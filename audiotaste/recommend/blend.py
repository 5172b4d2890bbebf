"""The blend between collaborative, artist, popularity and content scores, learned per catalogue.

No constant here depends on one world: the weights are fitted on the catalogue's own training
events. The last week of them is held out; a share of tracks (*pseudo-cold*) and every track of a
share of artists (*pseudo-debut*) lose their earlier listens; ALS is refitted on what remains, and a
logistic model of "listened at length in the held-out week" is fitted separately for three kinds of
track, because what predicts a play differs between them:

- ``warm`` (the track has listens): its own ALS score, the content-predicted and artist factors,
  its popularity, the sound;
- ``known`` (no listens, but its artist has): the content-predicted and artist factors, the
  artist's popularity, the sound;
- ``debut`` (neither): the sound, nothing else. The artist prior cannot outweigh the audio for an
  artist nobody can know, because it is not there; the content-predicted factors are left out too,
  because on the tuning worlds with many debut artists they ranked debut tracks at chance (they
  carry which artists happened to be heard, which says nothing of a new one).

The sound enters as the cosine between the listener's taste (the sound of what they played, skips
counting against) and the track, plus one deviation per content group (genre, mood, embedding, tempo, energy,
key, loudness ...), so each group can earn more or less than an equal share on this catalogue; how
far the deviations may move is chosen by cross-validation over listeners (none: content cosine).
Negatives are sampled at a known rate per kind and the intercepts corrected by it, so the three
models' log-odds are on one scale and a list can mix the kinds. For debut tracks the weights are
fitted against negatives drawn like the positives (other listeners' plays), because which debut
artist gets heard is promotion, not sound; only the intercept uses the uniform negatives. Every
learned score is an inner product of ``[user factors, taste, 1]`` with ``[item factors, weighted
content, bias]`` (see :func:`compose`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.special import expit
from sklearn.linear_model import LogisticRegression

from audiotaste.recommend.cold import artist_means, blended_factors, content_projection
from audiotaste.recommend.collaborative import als, confidence

KINDS = ("warm", "known", "debut")
#: Non-content features, in order; content groups follow.
BASE_FEATURES = ("cf_own", "cf_content", "cf_artist", "popularity", "sound")
_SOUND, _POPULARITY = BASE_FEATURES.index("sound"), BASE_FEATURES.index("popularity")
#: Which base features each kind of track has.
_HAS = {
    "warm": (True, True, True, True, True),
    "known": (False, True, True, True, True),
    "debut": (False, False, False, False, True),
}
VALIDATION_DAYS = 7
NEGATIVES_PER_USER = 50
#: Listeners (with held-out plays of a kind) the kind's weights are fitted on, at most.
MAX_LISTENERS = 5000
#: Held-out evidence above this is a listen at length (a full play is ~1, a partial one 0.25).
LIKED = 0.5


@dataclass(frozen=True)
class Blend:
    """Learned weights: ``coef[kind]`` over ``BASE_FEATURES + groups`` and ``intercept[kind]``."""

    groups: tuple[str, ...]
    coef: np.ndarray  # [n_kinds, n_base + n_groups]
    intercept: np.ndarray  # [n_kinds]
    report: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "groups": list(self.groups),
            "coef": self.coef.tolist(),
            "intercept": self.intercept.tolist(),
            "report": self.report,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Blend:
        coef = np.asarray(d["coef"], float)
        if coef.shape[1] == len(BASE_FEATURES) - 1 + len(d["groups"]):
            # saved before the whole-sound feature existed: its weight was zero
            coef = np.insert(coef, _SOUND, 0.0, axis=1)
        return cls(
            tuple(d["groups"]),
            coef,
            np.asarray(d["intercept"], float),
            dict(d.get("report", {})),
        )


def kinds_of(
    listens: np.ndarray, artist_code: np.ndarray, artist_listens: np.ndarray
) -> np.ndarray:
    """0 warm, 1 known artist, 2 debut, per track."""
    has_art = artist_code >= 0
    art_n = np.where(has_art, artist_listens[np.where(has_art, artist_code, 0)], 0)
    return np.where(listens > 0, 0, np.where(art_n > 0, 1, 2)).astype(np.int8)


def group_matrix(dim_groups: tuple[str, ...], groups: tuple[str, ...]) -> np.ndarray:
    """``[n_dims, n_groups]`` indicator of each content dimension's group."""
    g = np.zeros((len(dim_groups), len(groups)), np.float32)
    for d, name in enumerate(dim_groups):
        g[d, groups.index(name)] = 1.0
    return g


def compose(
    blend: Blend,
    *,
    kind: np.ndarray,
    item_cf: np.ndarray,
    predicted: np.ndarray,
    artist_factors: np.ndarray,
    popularity: np.ndarray,
    x: np.ndarray,
    dim_groups: tuple[str, ...],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Item factors ``[n, k]``, weighted content ``[n, d]`` and bias ``[n]`` such that
    ``user_factors @ F.T + taste @ C.T + b`` is each kind's learned log-odds."""
    c = blend.coef[kind]  # [n, n_features]
    f = (c[:, :1] * item_cf + c[:, 1:2] * predicted + c[:, 2:3] * artist_factors).astype(np.float32)
    per_dim = c[:, _SOUND : _SOUND + 1] + c[:, len(BASE_FEATURES) :] @ group_matrix(
        dim_groups, blend.groups
    ).T
    content = (x * per_dim).astype(np.float32)
    bias = (blend.intercept[kind] + c[:, _POPULARITY] * popularity).astype(np.float32)
    return f, content, bias


def taste_vectors(evidence: sp.csr_matrix, x: np.ndarray) -> np.ndarray:
    """Unit taste vectors ``[n_users, n_dims]``: the sound of what each listener played, weighted by
    the signed evidence, so a skipped track's sound counts against. (Leaving skips out was tried on
    the tuning worlds: it won on two of six and lost on four, and a listener who skipped rock
    would be offered rock as readily as before.)"""
    t = np.asarray(evidence @ x, np.float32)
    return t / np.maximum(np.linalg.norm(t, axis=1, keepdims=True), 1e-9)


def popularity_of(
    listens: np.ndarray, artist_code: np.ndarray, artist_listens: np.ndarray
) -> np.ndarray:
    """log1p of a track's listeners, or of its artist's for a track without any."""
    has_art = artist_code >= 0
    art_n = np.where(has_art, artist_listens[np.where(has_art, artist_code, 0)], 0)
    return np.log1p(np.where(listens > 0, listens, art_n)).astype(np.float32)


def learn_blend(
    users: np.ndarray,
    items: np.ndarray,
    times: pd.Series,
    weights: np.ndarray,
    *,
    shape: tuple[int, int],
    x: np.ndarray,
    dim_groups: tuple[str, ...],
    artist_code: np.ndarray,
    als_params: dict[str, Any],
    alpha: float,
    ridge: float,
    random_state: int = 0,
) -> Blend | None:
    """Fit a :class:`Blend` on a time split of the training events (see the module docstring).

    ``users``, ``items``, ``times``, ``weights``: each event's row, column, time and signed evidence.
    Returns ``None`` when the history is too short or thin to learn from (the caller keeps its
    fixed blend and says so).
    """
    rng = np.random.default_rng(random_state)
    t = pd.to_datetime(times, utc=True).to_numpy()
    if not len(t):
        return None
    cut = t.max() - np.timedelta64(VALIDATION_DAYS, "D")
    before = t < cut
    n_users, n_items = shape
    if before.sum() < 100 or (~before).sum() < 50:
        return None
    # Pseudo-debut: every track of 10 % of the artists; pseudo-cold: 15 % of the other tracks.
    artists = np.unique(artist_code[artist_code >= 0])
    n_debut = max(1, len(artists) // 10) if len(artists) else 0
    debut_art = rng.choice(artists, n_debut, replace=False)
    held = np.isin(artist_code, debut_art) & (artist_code >= 0)
    held |= rng.random(n_items) < 0.15
    fit = before & ~held[items]
    ev = sp.csr_matrix((weights[fit], (users[fit], items[fit])), shape=shape)
    ev.sum_duplicates()
    conf = confidence(ev, alpha)
    if conf.nnz < 50:
        return None
    p, q = als(conf, **als_params)
    listens = np.asarray((ev > 0).sum(0)).ravel()
    proj = content_projection(x, q, listens, ridge=ridge)
    predicted = np.hstack([x, np.ones((len(x), 1), np.float32)]) @ proj
    a_mean, a_n = artist_means(q, listens, artist_code)
    safe = np.where(artist_code >= 0, artist_code, 0)
    art_f = np.where((artist_code >= 0)[:, None], a_mean[safe], 0).astype(np.float32)
    taste = taste_vectors(ev, x)
    kind = kinds_of(listens, artist_code, a_n)
    pop = popularity_of(listens, artist_code, a_n)
    groups = tuple(dict.fromkeys(dim_groups))
    gm = group_matrix(dim_groups, groups)
    after = ~before & (weights > LIKED)
    pos = pd.DataFrame({"u": users[after], "i": items[after]}).drop_duplicates()
    coo = ev.tocoo()
    seen = coo.row.astype(np.int64) * n_items + coo.col
    coef = np.zeros((len(KINDS), len(BASE_FEATURES) + len(groups)))
    intercept = np.full(len(KINDS), -10.0)
    report: dict[str, Any] = {"validation_days": VALIDATION_DAYS}
    for k, name in enumerate(KINDS):
        pool = np.flatnonzero(kind == k)
        pk = pos[np.isin(pos["i"].to_numpy(), pool)]
        if len(pool) < 20 or len(pk) < 30:
            report[name] = {"skipped": f"{len(pk)} held-out plays among {len(pool)} tracks"}
            continue
        # Judged as the bench judges warm tracks: among tracks the listener has not played yet.
        pk = pk[~np.isin(pk["u"].to_numpy() * n_items + pk["i"].to_numpy(), seen)]
        us = np.unique(pk["u"].to_numpy())
        if len(us) > MAX_LISTENERS:
            # a dozen weights do not need a million listeners; the fit time must not grow with them
            us = np.sort(rng.choice(us, MAX_LISTENERS, replace=False))
            pk = pk[np.isin(pk["u"].to_numpy(), us)]
        m = min(NEGATIVES_PER_USER, len(pool))
        neg_u = np.repeat(us, m)
        neg_i = pool[rng.integers(0, len(pool), len(neg_u))]
        y = np.concatenate([np.ones(len(pk)), np.zeros(len(neg_u))])

        def features(u_all: np.ndarray, i_all: np.ndarray) -> np.ndarray:
            return np.column_stack(
                [
                    np.einsum("ij,ij->i", p[u_all], q[i_all]),
                    np.einsum("ij,ij->i", p[u_all], predicted[i_all]),
                    np.einsum("ij,ij->i", p[u_all], art_f[i_all]),
                    pop[i_all],
                    np.einsum("ij,ij->i", taste[u_all], x[i_all]),
                    (taste[u_all] * x[i_all]) @ gm,
                ]
            )

        pos_u, pos_i = pk["u"].to_numpy(), pk["i"].to_numpy()
        u_all = np.concatenate([pos_u, neg_u])
        feats = features(u_all, np.concatenate([pos_i, neg_i]))
        use = np.array(list(_HAS[name]) + [True] * len(groups))
        if name == "debut":
            # Which debut artist gets heard is exposure, which no sound predicts; against uniform
            # negatives the weights learn "sounds like the artists that happened to be promoted".
            # Negatives drawn like the positives (other listeners' plays of the same pool) leave
            # only what the sound says about this listener; the intercept is then set on the
            # uniform negatives so the kinds stay on one scale.
            mi = pos_i[rng.integers(0, len(pos_i), len(neg_u))]
            matched = features(u_all, np.concatenate([pos_i, mi]))
            w, _ = _fit_nonnegative(matched, y, use, u_all)
            b = _intercept(feats @ w, y)
        else:
            w, b = _fit_nonnegative(feats, y, use, u_all)
        # Negatives were sampled at m / |pool| per listener: add log of that rate to the intercept so
        # every kind's log-odds are those of the whole pool, comparable across kinds.
        coef[k], intercept[k] = w, b + np.log(m / len(pool))
        report[name] = {"tracks": int(len(pool)), "positives": int(len(pk)), "users": int(len(us))}
    if all("skipped" in report[n] for n in KINDS):
        return None
    return Blend(groups, coef, intercept, report)


def _intercept(offset: np.ndarray, y: np.ndarray) -> float:
    """The intercept of a logistic model whose other terms are fixed at ``offset`` (Newton)."""
    b = float(np.log(max(y.mean(), 1e-9) / max(1 - y.mean(), 1e-9)) - offset.mean())
    for _ in range(30):
        pr = expit(offset + b)
        step = (y - pr).sum() / max((pr * (1 - pr)).sum(), 1e-9)
        b += float(step)
        if abs(step) < 1e-8:
            break
    return b


#: How much harder a content group's own weight may be pulled to zero than the weight of the whole
#: sound, tried in turn: each group's weight is the sound's plus a deviation, and the deviations'
#: shrinkage is chosen per catalogue by cross-validation over listeners. 0 keeps the groups at equal
#: shares (content cosine); on worlds where a few groups carry the taste, larger values win.
DEVIATION_SCALES = (0.0, 0.05, 0.3, 1.0)
CV_FOLDS = 3


def _fit_nonnegative(
    feats: np.ndarray, y: np.ndarray, use: np.ndarray, listeners: np.ndarray
) -> tuple[np.ndarray, float]:
    """L2 logistic regression on the ``use`` columns, refitted without any base column whose weight
    came out negative (except popularity, which may count against): a learned weight of sound
    or listening affinity below zero is noise, and it would make the reasons lie.

    Content groups enter as deviations from the sound's weight, with the shrinkage of
    :data:`DEVIATION_SCALES` that predicts held-out listeners' plays best (log-loss, folds by
    ``listeners``); a group whose total weight would be negative is set to zero.
    """
    fold = np.unique(listeners, return_inverse=True)[1] % CV_FOLDS
    best, best_loss = DEVIATION_SCALES[0], np.inf
    for scale in DEVIATION_SCALES:
        loss = 0.0
        for f in range(CV_FOLDS):
            tr = fold != f
            if len(np.unique(y[tr])) < 2 or len(np.unique(y[~tr])) < 2:
                continue  # too few listeners for this fold to say anything
            w, b = _fit_once(feats[tr], y[tr], use, scale)
            z = np.clip(feats[~tr] @ w + b, -30, 30)
            loss += float(np.sum(np.logaddexp(0, z) - y[~tr] * z))
        if loss < best_loss:
            best, best_loss = scale, loss
    return _fit_once(feats, y, use, best)


def _fit_once(
    feats: np.ndarray, y: np.ndarray, use: np.ndarray, scale: float
) -> tuple[np.ndarray, float]:
    n_base = len(BASE_FEATURES)
    use = use.copy()
    for _ in range(3):
        cols = np.flatnonzero(use)
        z = feats[:, cols]
        mu, sd = z.mean(0), z.std(0)
        sd = np.where(sd > 1e-9, sd, 1.0)
        shrink = np.where(cols >= n_base, scale, 1.0)
        model = LogisticRegression(C=1.0, max_iter=300).fit((z - mu) / sd * shrink, y)
        w = model.coef_[0] * shrink / sd
        b = float(model.intercept_[0] - mu @ w)
        neg = (w < 0) & (cols < n_base) & (cols != _POPULARITY)
        if not neg.any():
            break
        use[cols[neg]] = False
    out = np.zeros(feats.shape[1])
    out[cols] = w
    out[n_base:] = np.maximum(out[n_base:], -out[_SOUND])
    return out, b


def item_model(
    blend: Blend | None,
    *,
    x: np.ndarray,
    dim_groups: tuple[str, ...],
    item_cf: np.ndarray,
    listens: np.ndarray,
    artist_code: np.ndarray,
    ridge: float,
    artist_listens: float,
    blend_listens: float,
    content_weight: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Item factors, weighted content, bias, the content regression and listeners per artist.

    ``blend=None``: the fixed blend (:func:`~audiotaste.recommend.cold.blended_factors`), content
    weighted by ``content_weight``, no bias.
    """
    if blend is None:
        f, proj, a_n = blended_factors(
            x,
            item_cf,
            listens,
            artist_code,
            ridge=ridge,
            artist_listens=artist_listens,
            blend_listens=blend_listens,
        )
        return f, (content_weight * x).astype(np.float32), np.zeros(len(x), np.float32), proj, a_n
    proj = content_projection(x, item_cf, listens, ridge=ridge)
    predicted = np.hstack([x, np.ones((len(x), 1), np.float32)]) @ proj
    a_mean, a_n = artist_means(item_cf, listens, artist_code)
    safe = np.where(artist_code >= 0, artist_code, 0)
    art_f = np.where((artist_code >= 0)[:, None], a_mean[safe], 0).astype(np.float32)
    f, content, bias = compose(
        blend,
        kind=kinds_of(listens, artist_code, a_n),
        item_cf=item_cf,
        predicted=predicted,
        artist_factors=art_f,
        popularity=popularity_of(listens, artist_code, a_n),
        x=x,
        dim_groups=dim_groups,
    )
    return f, content, bias, proj, a_n


def learn_blend_for(
    rec: Any, users: np.ndarray, items: np.ndarray, times: pd.Series, weights: np.ndarray
) -> tuple[Blend | None, dict[str, Any]]:
    """:func:`learn_blend` with a Recommender's settings; ``(None, why)`` when it cannot learn."""
    learned = learn_blend(
        users,
        items,
        times,
        weights,
        shape=rec.evidence_.shape,
        x=rec.X_,
        dim_groups=rec.content_.groups,
        artist_code=rec.artist_code_,
        als_params=rec._als_params(),
        alpha=rec.alpha,
        ridge=rec.ridge,
        random_state=rec.random_state,
    )
    if learned is None:
        return None, {"blend": "fixed", "why": "too little history to learn a blend from"}
    return learned, {"blend": "learned", **learned.report}


def offset_and_shares(rec: Any) -> tuple[float, np.ndarray]:
    """For a fitted Recommender with a learned blend (else ``0, ones``): the median log-odds of
    sampled listeners x sampled tracks (to centre scores on, so 0 is a typical track for a typical
    listener) and each kind's expected number of liked tracks in the catalogue (mean probability
    of its sampled tracks times its track count), ``[n_kinds]``, to share lists out by."""
    n_kinds = len(KINDS)
    if rec.blend_ is None or not len(rec.user_ids_):
        return 0.0, np.ones(n_kinds)
    rng = np.random.default_rng(rec.random_state)
    users = rng.choice(len(rec.user_ids_), min(200, len(rec.user_ids_)), replace=False)
    items = rng.choice(len(rec.track_ids_), min(5000, len(rec.track_ids_)), replace=False)
    sample = rec._score(users, items)
    p = expit(sample).mean(0)  # stable: folded-in listeners can reach log-odds beyond -700
    sample_kind = rec.kind_[items]
    mean_p = np.bincount(sample_kind, weights=p, minlength=n_kinds) / np.maximum(
        np.bincount(sample_kind, minlength=n_kinds), 1
    )
    return float(np.median(sample)), mean_p * np.bincount(rec.kind_, minlength=n_kinds)
