"""Discovery shelves and how a playlist is filled from them.

Shelves in the spirit of Netflix's and Spotify's BART: "because you like jazz", "calm for you",
"new releases", "outside your usual", "for you". Each slot's shelf is drawn from the bandit's
slot probabilities (:mod:`audiotaste.recommend.bandit`); within a shelf, tracks are taken by
maximal marginal relevance under an artist cap.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from audiotaste.recommend.bandit import ARMS
from audiotaste.recommend.explain import and_join, mood_genre_phrases
from audiotaste.recommend.finish import comfort_grid
from audiotaste.recommend.playlist import DEFAULT_DURATION_S

#: Tracks released this close to the newest release are "new releases", days.
NEW_RELEASE_DAYS = 28
#: Catalogue columns the playlist order uses.
ORDER_COLUMNS = ("key", "mode", "tempo_bpm", "energy")

Shelves = dict[str, tuple[str, np.ndarray]]


@dataclass(frozen=True)
class ShelfCatalogue:
    """Per-track arrays the shelves read, aligned with a recommender's tracks.

    Attributes
    ----------
    genres, moods : list of str
        Tag names (without ``genre.`` / ``mood.``).
    gcols, mcols : numpy.ndarray
        Their columns in the recommender's ``tags_``.
    gtags, mtags : numpy.ndarray
        Genre and mood probabilities ``[n_tracks, n_genres]``, ``[n_tracks, n_moods]``.
    genre_of, mood_of : numpy.ndarray
        Each track's strongest genre and mood (-1 when there are none).
    meta : dict
        ``key``, ``mode``, ``tempo_bpm``, ``energy`` per track (``None`` when the frame lacks one).
    path : numpy.ndarray or None
        File paths, for M3U8.
    new : numpy.ndarray
        Tracks on the new-releases shelf (released in the last :data:`NEW_RELEASE_DAYS`, or with
        no listeners when there are no release dates).
    new_label : str
        The shelf's name, ``""`` when it has no tracks to offer.
    duration : numpy.ndarray
        Seconds, :data:`DEFAULT_DURATION_S` where unknown.
    log_tempo : numpy.ndarray or None
        log2 BPM.
    phrase : numpy.ndarray
        ``"calm jazz"`` per track.
    comfort_grids : dict
        :func:`~.finish.comfort_grid` of ``energy`` and ``log_tempo`` (the re-ranker's candidate
        centres, the same for every listener).
    """

    genres: list[str]
    moods: list[str]
    gcols: np.ndarray
    mcols: np.ndarray
    gtags: np.ndarray
    mtags: np.ndarray
    genre_of: np.ndarray
    mood_of: np.ndarray
    meta: dict[str, np.ndarray | None]
    path: np.ndarray | None
    new: np.ndarray
    new_label: str
    duration: np.ndarray
    log_tempo: np.ndarray | None
    phrase: np.ndarray
    comfort_grids: dict[str, np.ndarray | None]

    @classmethod
    def build(cls, rec: Any, tracks: pd.DataFrame | None) -> ShelfCatalogue:
        """From a fitted recommender and (optionally) the catalogue columns it does not keep."""
        n = len(rec.track_ids_)
        names = np.asarray(rec.tag_names_, dtype=str)
        gcols = np.asarray([i for i, c in enumerate(names) if c.startswith("genre.")], np.int64)
        mcols = np.asarray([i for i, c in enumerate(names) if c.startswith("mood.")], np.int64)
        genres = [str(names[i])[6:] for i in gcols]
        moods = [str(names[i])[5:] for i in mcols]
        gtags = np.ascontiguousarray(rec.tags_[:, gcols], np.float32)
        mtags = np.ascontiguousarray(rec.tags_[:, mcols], np.float32)
        meta = pd.DataFrame(index=pd.Index(rec.track_ids_, name="track_id"))
        if tracks is not None and "track_id" in tracks:
            t = tracks.drop_duplicates("track_id")
            meta = t.set_index(t["track_id"].astype(str)).reindex(meta.index)
        order = {
            c: pd.to_numeric(meta[c], errors="coerce").to_numpy(float) if c in meta else None
            for c in ORDER_COLUMNS
        }
        new = np.asarray(rec.listens_) == 0
        new_label = "new releases"
        if "release" in meta:
            rel = pd.to_datetime(meta["release"], errors="coerce", utc=True)
            if rel.notna().any():
                new = (rel >= rel.max() - pd.Timedelta(days=NEW_RELEASE_DAYS)).to_numpy()
        elif not new.any():
            new_label = ""
        dur = np.asarray(rec.duration_s_, float)
        tempo = order["tempo_bpm"]
        log_tempo = None if tempo is None else np.log2(np.where(tempo > 0, tempo, np.nan))
        return cls(
            genres=genres,
            moods=moods,
            gcols=gcols,
            mcols=mcols,
            gtags=gtags,
            mtags=mtags,
            genre_of=gtags.argmax(1) if len(gcols) else np.full(n, -1),
            mood_of=mtags.argmax(1) if len(mcols) else np.full(n, -1),
            meta=order,
            path=meta["path"].fillna("").astype(str).to_numpy() if "path" in meta else None,
            new=new,
            new_label=new_label,
            duration=np.where(np.isfinite(dur) & (dur > 0), dur, DEFAULT_DURATION_S),
            log_tempo=log_tempo,
            phrase=mood_genre_phrases(mtags, moods, gtags, genres),
            comfort_grids={"energy": comfort_grid(order["energy"]),
                           "log_tempo": comfort_grid(log_tempo)},
        )


def build_shelves(
    cat: ShelfCatalogue,
    rec: Any,
    u: int | None,
    ok: np.ndarray,
    unmet: list[str],
    *,
    new_artists: bool,
    second_genres: int,
    fresh_shelves: tuple[str, ...] = ("second_genre",),
) -> Shelves:
    """Arm -> (label, mask of tracks on that shelf) for the arms that make sense for listener
    ``u`` (``None``: no history); ``ok`` marks the tracks that may be offered at all.

    With ``new_artists``, the shelves named in ``fresh_shelves`` hold only artists the listener
    has never played: the second-genre shelf whenever the catalogue has any such artist, the
    others wherever that leaves them some tracks (otherwise they keep their familiar ones)."""
    out: Shelves = {"for_you": ("for you" if u is not None else "popular here", ok)}
    if cat.new_label:
        out["new"] = (cat.new_label, ok & cat.new)
    if u is None:
        return out
    row = rec.evidence_[u]
    pos = row.data > 0
    liked, w = row.indices[pos], row.data[pos]
    if not len(liked):
        unmet.append("taste: no liked plays yet, so only the for-you and new-release shelves")
        return out
    taste = (w @ rec.tags_[liked]) / w.sum()
    # The fresh shelves hold artists the listener has never played, where there are any.
    codes = rec.artist_code_
    played = np.unique(codes[rec.plays_[u].indices])
    fresh = ~np.isin(codes, played[played >= 0]) if new_artists else np.ones(len(ok), bool)
    if new_artists and not (ok & fresh).any():
        fresh = np.ones(len(ok), bool)
    if len(cat.gcols):
        top = np.argsort(-taste[cat.gcols], kind="stable")
        out["top_genre"] = (
            f"because you like {cat.genres[top[0]]}",
            ok & (cat.genre_of == top[0]),
        )
        nxt = top[1 : 1 + max(1, second_genres)]
        if len(nxt):
            out["second_genre"] = (
                "because you like " + and_join([cat.genres[j] for j in nxt]),
                ok & (fresh | ("second_genre" not in fresh_shelves)) & np.isin(cat.genre_of, nxt),
            )
        out["outside"] = ("outside your usual", ok & ~np.isin(cat.genre_of, top[: 1 + len(nxt)]))
    else:
        unmet.append("shelves: the tracks have no genre.* tags, so no genre shelves")
    if len(cat.mcols):
        m = int(np.argmax(taste[cat.mcols]))
        out["mood"] = (f"{cat.moods[m]} for you", ok & (cat.mood_of == m))
    for arm in fresh_shelves if new_artists else ():
        if arm in out and arm != "second_genre" and (out[arm][1] & fresh).any():
            out[arm] = (out[arm][0], out[arm][1] & fresh)
    return out


def fill_slots(
    shelves: Shelves,
    score: np.ndarray,
    *,
    x: np.ndarray,
    artist_code: np.ndarray,
    duration: np.ndarray,
    probabilities: Callable[[np.ndarray], np.ndarray],
    rng: np.random.Generator,
    n: int,
    minutes: float | None,
    pool: int,
    diversity: float,
    artist_cap: int,
    unmet: list[str],
) -> tuple[list[int], list[str], list[float], np.ndarray]:
    """Draw a shelf per slot and take its best remaining track by MMR under the artist cap.

    ``probabilities(available)`` gives each arm's chance of filling a slot given which arms still
    have tracks. Returns the picked tracks, their arms, each slot's propensity and the
    ``[n_slots, n_arms]`` probabilities.
    """
    cap = artist_cap * max(1, math.ceil(n / 30)) if artist_cap > 0 else 0
    pools = {
        arm: _shelf_pool(np.flatnonzero(mask), score, artist_code, pool, cap)
        for arm, (_, mask) in shelves.items()
    }
    union = np.unique(np.concatenate(list(pools.values()))) if pools else np.zeros(0, np.int64)
    if not len(union):
        return [], [], [], np.zeros((0, len(ARMS)))
    local = {arm: np.searchsorted(union, c) for arm, c in pools.items()}
    member = np.zeros((len(ARMS), len(union)), bool)
    for i, arm in enumerate(ARMS):
        if arm in local:
            member[i, local[arm]] = True
    xu = x[union]
    sc = score[union]
    lo, hi = float(sc.min()), float(sc.max())
    rel = (sc - lo) / max(hi - lo, 1e-12)
    artist = np.asarray(artist_code, np.int64)[union]
    known = artist >= 0
    code = np.where(known, artist, 0)
    counts = np.zeros(int(code.max()) + 1, np.int64)
    cap = cap or len(union)
    used = np.zeros(len(union), bool)
    max_sim = np.zeros(len(union))
    cache: dict[bytes, np.ndarray] = {}
    picked: list[int] = []
    arms: list[str] = []
    props: list[float] = []
    probs: list[np.ndarray] = []
    total = 0.0
    relaxed = False
    while len(picked) < n and (minutes is None or total < minutes * 60 - 0.5 * DEFAULT_DURATION_S):
        free = ~used & ~(known & (counts[code] >= cap))
        avail = (member & free).any(1)
        if not avail.any():
            if not (~used).any():
                break
            cap += 1
            relaxed = True
            continue
        ck = avail.tobytes()
        if ck not in cache:
            cache[ck] = probabilities(np.asarray(avail, bool))
        p = cache[ck]
        arm_i = int(np.searchsorted(np.cumsum(p), rng.random() * p.sum(), side="right"))
        arm_i = min(arm_i, len(ARMS) - 1)
        cand = local[ARMS[arm_i]]
        cand = cand[free[cand]]
        val = (1 - diversity) * rel[cand] - diversity * max_sim[cand]
        j = int(cand[np.argmax(val)])
        used[j] = True
        if known[j]:
            counts[code[j]] += 1
        max_sim = np.maximum(max_sim, xu @ xu[j])
        picked.append(int(union[j]))
        arms.append(ARMS[arm_i])
        props.append(float(p[arm_i]))
        probs.append(p)
        total += duration[union[j]]
    if relaxed:
        n_art = len(np.unique(artist[known]))
        unmet.append(
            f"artist cap: only {n_art} artist(s) among the candidates, so up to {cap} tracks per artist"
        )
    return picked, arms, props, np.asarray(probs).reshape(-1, len(ARMS))


def _shelf_pool(
    cand: np.ndarray, score: np.ndarray, artist_code: np.ndarray, pool: int, cap: int
) -> np.ndarray:
    """A shelf's ``pool`` best candidates, at most ``cap`` per artist while other artists remain
    (0: no cap).

    Capping here, not only when picking, keeps a shelf whose best tracks come from a few artists
    from running dry: otherwise the playlist's artist cap had to be relaxed while the catalogue
    still held other artists' tracks outside the pool.
    """
    if len(cand) > 8 * pool:
        cand = cand[np.argpartition(-score[cand], 8 * pool - 1)[: 8 * pool]]
    cand = cand[np.argsort(-score[cand], kind="stable")]
    if cap:
        artist = np.asarray(artist_code, np.int64)[cand]
        known = artist >= 0
        # rank of each candidate among its artist's (in score order)
        order = np.argsort(np.where(known, artist, -1), kind="stable")
        a_sorted = np.where(known, artist, -1)[order]
        starts = np.r_[0, np.flatnonzero(np.diff(a_sorted)) + 1]
        rank = np.empty(len(cand), np.int64)
        rank[order] = np.arange(len(cand)) - np.repeat(starts, np.diff(np.r_[starts, len(cand)]))
        within = ~known | (rank < cap)
        # the capped-in first; the rest after them, for when few artists remain (cap relaxed)
        cand = np.concatenate([cand[within], cand[~within]])
    return cand[:pool]


def offerable(
    n_tracks: int,
    *,
    heard: np.ndarray,
    excluded: np.ndarray | None,
    shown: list[int],
    wanted: int,
    unmet: list[str],
) -> tuple[np.ndarray, np.ndarray | None]:
    """Mask of tracks a playlist may offer: not heard, not excluded (-1 entries ignored), and not
    offered before unless fewer than ``wanted`` tracks would be left (then named in ``unmet``).

    Returns the mask and, when earlier offers had to return, the mask of those repeats (to be
    ranked after every track never offered).
    """
    ok = np.ones(n_tracks, bool)
    ok[heard] = False
    if excluded is not None:
        ok[excluded[excluded >= 0]] = False
    if shown:
        fresh = ok.copy()
        fresh[shown] = False
        if fresh.sum() >= wanted:
            return fresh, None
        # A small catalogue runs out of tracks never offered: offering an earlier playlist's
        # unplayed picks again beats an empty playlist.
        unmet.append(
            f"repeats: only {int(fresh.sum())} unheard tracks were never offered before, "
            "so earlier playlists' unplayed tracks may return"
        )
        return ok, np.asarray(ok & ~fresh, bool)
    return ok, None


def length_notes(
    picked: list[int], wanted: int, minutes: float | None, duration: np.ndarray
) -> list[str]:
    """What to say when the picks fall short of ``wanted`` tracks or ``minutes``."""
    if len(picked) < (wanted if minutes is None else 1):
        return [f"length: only {len(picked)} unheard tracks could be offered, not {wanted}"]
    total = float(duration[picked].sum())
    if minutes is not None and total < minutes * 60 - 60:
        return [f"length: the unheard tracks last only {total / 60:.0f} of {minutes:g} minutes"]
    return []


def playlist_frame(
    rec: Any,
    cat: ShelfCatalogue,
    idx: np.ndarray,
    shelf: list[str],
    reasons: list[str],
    score: np.ndarray,
    propensity: np.ndarray,
    arms: np.ndarray,
) -> pd.DataFrame:
    """The playlist as served, in play order (see ``Discovery.playlist``)."""
    out = pd.DataFrame(
        {
            "position": np.arange(1, len(idx) + 1),
            "track_id": rec.track_ids_[idx].astype(str),
            "shelf": shelf,
            "reason": reasons,
            "score": score,
            "propensity": np.asarray(propensity, float),
            "arm": np.asarray(arms).astype(str),
            "artist": rec.artist_[idx],
            "title": rec.title_[idx],
            "duration_s": np.asarray(rec.duration_s_, float)[idx],
        }
    )
    if cat.path is not None:
        out["path"] = cat.path[idx]
    return out
