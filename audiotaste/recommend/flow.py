"""The order of a playlist: harmonic mixing, smooth tempo steps and an energy arc.

A small local search over three costs between neighbours and positions: harmonic distance on the
Camelot wheel (same number, or one step around, or the relative major/minor, counts as
compatible), the tempo step (octave-folded, so 70 -> 140 BPM is a smooth mix), and the distance
from an energy arc that rises to a peak two thirds in and settles. Unknown keys, tempi or energies
are named in the notes it returns, never an error.
"""

from __future__ import annotations

import numpy as np

#: A tempo step of this many octaves (about 8 %) costs as much as one incompatible key change.
TEMPO_STEP_OCTAVES = 0.11
_PEAK = 0.68
W_HARM = 2.0
W_ENERGY = 4.0
TEMPO_POW = 1.0


def camelot(key: np.ndarray, mode: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Camelot wheel number (1-12) and letter (1 = "B" major, 0 = "A" minor); NaN where unknown.

    C major is 8B, A minor 8A; one step clockwise is a fifth up.
    """
    k = np.asarray(key, float)
    md = np.asarray(mode, float)
    ok = np.isfinite(k) & (k >= 0) & (k < 12) & np.isfinite(md)
    tonic_major = np.where(md == 1, k, k + 3)  # a minor key sits on its relative major's number
    num = np.where(ok, (7 * np.nan_to_num(tonic_major) + 7) % 12 + 1, np.nan)
    letter = np.where(ok, (md == 1).astype(float), np.nan)
    return num, letter


def camelot_distance(num: np.ndarray, letter: np.ndarray) -> np.ndarray:
    """Pairwise steps on the wheel: 0 same key, 1 compatible (adjacent number or relative key)."""
    d = np.abs(num[:, None] - num[None, :])
    d = np.minimum(d, 12 - d)
    return d + (letter[:, None] != letter[None, :])


def _arc(n: int) -> np.ndarray:
    x = np.linspace(0, 1, n) if n > 1 else np.zeros(1)
    return np.where(x <= _PEAK, 0.25 + 0.75 * x / _PEAK, 1 - 0.5 * (x - _PEAK) / (1 - _PEAK))


def flow_order(
    key: np.ndarray | None,
    mode: np.ndarray | None,
    tempo_bpm: np.ndarray | None,
    energy: np.ndarray | None,
    *,
    n_tracks: int | None = None,
    starts: int = 1,
    max_iter: int = 30,
) -> tuple[np.ndarray, dict[str, float], list[str]]:
    """An order for tracks with the given ``key`` (0-11), ``mode`` (1/0), ``tempo_bpm`` and
    ``energy`` (NaN where unknown, ``None`` for a whole unknown column; ``n_tracks`` says how
    many tracks there are when every column is ``None``).

    Greedy construction along the energy arc, then pairwise swaps while they lower the total cost.
    Unknown values cost nothing, so they never break the order; they are named in the notes.

    Returns
    -------
    order : numpy.ndarray
        Row indices in play order.
    flow : dict
        See :attr:`Playlist.flow`.
    notes : list of str
    """
    sizes = [len(v) for v in (key, mode, tempo_bpm, energy) if v is not None]
    n = sizes[0] if sizes else int(n_tracks or 0)
    notes: list[str] = []
    nan = np.full(n, np.nan)
    num, letter = camelot(nan if key is None else key, np.ones(n) if mode is None else mode)
    if mode is None and key is not None:
        notes.append("harmony: no mode column, every key read as major")
    tb = nan if tempo_bpm is None else np.asarray(tempo_bpm, float)
    tempo = np.log2(np.where(tb > 0, tb, np.nan))
    energy = nan if energy is None else np.asarray(energy, float)
    for name, v in (("key", num), ("tempo", tempo), ("energy", energy)):
        miss = int((~np.isfinite(v)).sum())
        if n and miss == n:
            notes.append(f"{name}: unknown for every track, so the order ignores it")
        elif miss:
            notes.append(f"{name}: unknown for {miss} of {n} tracks, placed without it")
    if n <= 1:
        return np.arange(n), _flow_stats(num, letter, tempo, energy), notes

    harm = np.nan_to_num(np.maximum(camelot_distance(num, letter) - 1, 0))
    dt = np.abs(tempo[:, None] - tempo[None, :])
    dt = np.nan_to_num(np.minimum(dt, np.abs(dt - 1)))  # octave-folded
    step = W_HARM * harm + np.minimum(dt / TEMPO_STEP_OCTAVES, 3.0) ** TEMPO_POW
    e = np.where(np.isfinite(energy), energy, np.nan)
    if np.isfinite(e).any():
        lo, hi = np.nanpercentile(e, [10, 90])
        target = lo + (hi - lo) * _arc(n)
        gap = np.nan_to_num(np.abs(e[:, None] - target[None, :]) / max(hi - lo, 0.05))
        place = W_ENERGY * (gap + gap**2)  # the square makes a sorted assignment the unique best
    else:
        place = np.zeros((n, n))

    # Greedy paths from every first track at once (each position takes the free track that best
    # fits the arc and its predecessor); the cheapest few are polished by local search.
    paths, costs = _greedy_all(step, place)
    best, best_cost = paths[0], np.inf
    for r in np.argsort(costs, kind="stable")[:starts]:
        order, cost = _swap_descent(paths[r], step, place, max_iter)
        if cost < best_cost - 1e-12:
            best, best_cost = order, cost
    o = best
    idx = np.asarray(o, np.int64)
    return idx, _flow_stats(num[idx], letter[idx], tempo[idx], energy[idx]), notes


def _greedy_all(step: np.ndarray, place: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Greedy paths starting from each track, ``[n_starts, n]``, and their costs."""
    n = len(step)
    rows = np.arange(n)
    paths = np.zeros((n, n), np.int64)
    paths[:, 0] = rows
    free = np.ones((n, n), bool)
    free[rows, rows] = False
    cost = place[rows, 0].copy()
    for p in range(1, n):
        c = step[paths[:, p - 1]] + place[:, p][None, :]
        c[~free] = np.inf
        j = np.argmin(c, axis=1)
        cost += c[rows, j]
        paths[:, p] = j
        free[rows, j] = False
    return paths, cost


def _swap_descent(
    o: np.ndarray, step: np.ndarray, place: np.ndarray, max_iter: int
) -> tuple[np.ndarray, float]:
    """Local search: apply the best swap of two positions or reversal of a stretch (2-opt) while
    one lowers the cost; every candidate move is scored at once."""
    n = len(o)
    sp = np.zeros((n + 1, n + 1))
    sp[:n, :n] = step  # index n is "no neighbour" and costs nothing
    pos = np.arange(n)
    upper = pos[:, None] < pos[None, :]
    adjacent = pos[None, :] == pos[:, None] + 1
    diag_of, row_of = (pos[:, None] + pos[None, :]).ravel(), np.repeat(pos, n)
    o = o.copy()
    for _ in range(max_iter):
        prev = np.concatenate([[n], o[:-1]])
        nxt = np.concatenate([o[1:], [n]])
        x, y = o[:, None], o[None, :]
        pa, na, pb, nb = prev[:, None], nxt[:, None], prev[None, :], nxt[None, :]
        placed = place[x, pos[:, None]] + place[y, pos[None, :]]
        moved = place[y, pos[:, None]] + place[x, pos[None, :]]
        old = sp[pa, x] + sp[x, na] + sp[pb, y] + sp[y, nb]
        new = sp[pa, y] + sp[y, na] + sp[pb, x] + sp[x, nb]
        old_adj = sp[pa, x] + sp[x, y] + sp[y, nb]
        new_adj = sp[pa, y] + sp[y, x] + sp[x, nb]
        swap = np.where(adjacent, new_adj - old_adj, new - old) + moved - placed
        # Reversing o[a..b] changes two edges (steps are symmetric) and the placement of every
        # track inside: track o[i] moves to a + b - i, summed along anti-diagonals of m.
        m = place[o]  # m[i, k]: cost of the track now at i placed at k
        flipped = np.zeros((2 * n - 1, n))
        flipped[diag_of, row_of] = m.ravel()
        cum = np.cumsum(flipped, axis=1)
        s = pos[:, None] + pos[None, :]
        inside = cum[s, pos[None, :]] - np.where(
            pos[:, None] > 0, cum[s, np.maximum(pos[:, None] - 1, 0)], 0
        )
        diag = np.concatenate([[0.0], np.cumsum(m[pos, pos])])
        before = diag[pos[None, :] + 1] - diag[pos[:, None]]
        edges = sp[pa, y] + sp[x, nb] - sp[pa, x] - sp[y, nb]
        rev = edges + inside - before
        swap[~upper] = np.inf
        rev[~upper] = np.inf
        ks, kr = int(np.argmin(swap)), int(np.argmin(rev))
        if min(swap.flat[ks], rev.flat[kr]) >= -1e-9:
            break
        if swap.flat[ks] <= rev.flat[kr]:
            a, b = divmod(ks, n)
            o[a], o[b] = o[b], o[a]
        else:
            a, b = divmod(kr, n)
            o[a : b + 1] = o[a : b + 1][::-1].copy()
    cost = float(place[o, pos].sum() + step[o[:-1], o[1:]].sum())
    return o, cost


def _flow_stats(
    num: np.ndarray, letter: np.ndarray, tempo: np.ndarray, energy: np.ndarray
) -> dict[str, float]:
    d = np.abs(np.diff(num))
    d = np.minimum(d, 12 - d) + (np.diff(letter) != 0)
    known = np.isfinite(d)
    dt = np.abs(np.diff(tempo))
    dt = np.minimum(dt, np.abs(dt - 1))
    dt = dt[np.isfinite(dt)]
    ok = np.isfinite(energy)
    arc = _arc(len(energy))[ok]
    r = (
        float(np.corrcoef(energy[ok], arc)[0, 1])
        if ok.sum() > 2 and np.std(energy[ok]) > 0
        else np.nan
    )
    return {
        "harmonic_share": float((d[known] <= 1).mean()) if known.any() else np.nan,
        "median_tempo_step_pct": float((2 ** np.median(dt) - 1) * 100) if len(dt) else np.nan,
        "energy_arc_r": r,
    }
