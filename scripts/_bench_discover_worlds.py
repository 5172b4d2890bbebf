"""``bench_discover.py --worlds SET``: weekly playlists on the simulated services of
:mod:`audiotaste.recommend.worlds`, greedy vs Discovery, each learning from its own feedback.

After a world's six logged weeks every listener gets a playlist a week for ``rounds`` weeks. The
world answers the way it answers plays (``simulate_world``'s own formulas, read from its frame as
it returns, so nothing is re-implemented): each week a listener is in one of their taste clusters
(drawn from their, possibly drifting, mix), starts every track, and finishes it with probability
``sigmoid(1.5 * utility - gap + 0.3)``, the gap being the tempo/energy mismatch or the unfamiliar
artist, as the world's skip model says; a full play makes the artist familiar.

Discovery, measured three ways:
- ``new_artists``: distinct artists the listener had never played in full before the rounds and
  now did, per listener (mean). It cannot saturate short of the catalogue's artists.
- ``adopted``: of those, the artists the listener fully played in two or more of the rounds (found,
  then chosen again: discovery that stays), per listener (mean). It cannot saturate either.
- ``second_cluster`` (the bench's old kind of measure, it saturates): among listeners with two or
  more taste clusters, the share whose second cluster (by mix weight over the rounds) got at least
  three full plays of tracks that suit it best.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from audiotaste.recommend import Recommender
from audiotaste.recommend.explore import Discovery
from audiotaste.recommend.worlds import HELD_OUT, TUNING, WorldConfig, simulate_world

_NEED = ("basis", "prefs", "cl_w", "drift_to", "quality", "tempo", "energy", "tempo_c", "energy_p",
         "artist", "known_artists", "duration", "scale", "week0", "track_ids")  # fmt: skip


@dataclass
class WorldPlayer:
    """A world's hidden state, enough to answer new playlists the way it answers plays."""

    cfg: WorldConfig
    sim: Any
    s: dict[str, Any]

    @classmethod
    def create(cls, cfg: WorldConfig) -> WorldPlayer:
        state: dict[str, Any] = {}

        def grab(frame: Any, event: str, arg: Any) -> None:
            if event == "return" and frame.f_code is simulate_world.__code__:
                state.update(frame.f_locals)

        old = sys.getprofile()
        sys.setprofile(grab)
        try:
            sim = simulate_world(cfg)
        finally:
            sys.setprofile(old)
        missing = [k for k in _NEED if k not in state]
        if missing:
            raise RuntimeError(f"simulate_world no longer exposes {missing}")
        state["known_artists"] = [set(a) for a in state["known_artists"]]  # ours to change
        state["track_index"] = pd.Index(state["track_ids"])
        return cls(cfg, sim, state)

    def mix(self, week: int) -> np.ndarray:
        """Each listener's cluster weights in ``week`` [n_users, 4]."""
        s = self.s
        if not self.cfg.drift:
            return s["cl_w"]
        f = min(week / self.cfg.weeks, 1.0)
        return (1 - f) * s["cl_w"] + f * s["drift_to"]

    def suits(self, u: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Which of the listener's clusters each track suits best (among the clusters they have)."""
        s = self.s
        fit = np.einsum("kd,kcd->kc", s["basis"][items], s["prefs"][u])
        fit[s["cl_w"][u] == 0] = -np.inf
        return fit.argmax(1)

    def respond(
        self, u: np.ndarray, items: np.ndarray, week: int, rng: np.random.Generator
    ) -> tuple[pd.DataFrame, np.ndarray]:
        """Events for every started track and the full-play flags, in the order given."""
        s = self.s
        mix = self.mix(week)
        cluster = {int(x): rng.choice(4, p=mix[x]) for x in np.unique(u)}
        c = np.array([cluster[int(x)] for x in u])
        util = np.einsum("kd,kd->k", s["basis"][items], s["prefs"][u, c]) / s["scale"]
        util += s["quality"][items]
        if self.cfg.skip == "mismatch":
            gap = (np.abs(np.log2(s["tempo"][items] / s["tempo_c"][u])) * 3
                   + np.abs(s["energy"][items] - s["energy_p"][u]) * 2)  # fmt: skip
        else:
            gap = 1.2 * np.array(
                [s["artist"][i] not in s["known_artists"][x] for x, i in zip(u, items, strict=True)]
            )
        p_full = 1 / (1 + np.exp(-(1.5 * util - gap + 0.3)))
        r = rng.random(len(items))
        full = r < p_full
        skip = ~full & (r < p_full + (1 - p_full) * 0.6)
        dur = s["duration"][items]
        ms = np.where(full, dur * 1000, np.where(skip, rng.uniform(2_000, 25_000, len(items)),
                                                 dur * 1000 * rng.uniform(0.3, 0.8, len(items))))  # fmt: skip
        for x, i in zip(u[full], items[full], strict=True):
            s["known_artists"][x].add(int(s["artist"][i]))
        t0 = s["week0"] + pd.Timedelta(weeks=week)
        ev = pd.DataFrame({
            "user_id": np.char.add("u", u.astype(str)),
            "track_id": s["track_ids"][items],
            "timestamp": t0 + pd.to_timedelta(np.sort(rng.uniform(0, 7 * 86400 - 1, len(items))), unit="s"),
            "ms_played": ms.astype(np.int64),
            "skipped": skip,
        })  # fmt: skip
        return ev, full


def run_policy(
    name: str,
    cfg: WorldConfig,
    rounds: int,
    size: int,
    seed: int,
    discovery: dict[str, Any] | None = None,
) -> dict[str, Any]:
    world = WorldPlayer.create(cfg)  # a fresh world per policy: responses change its state
    s, sim = world.s, world.sim
    rng = np.random.default_rng(seed)
    tracks = sim.tracks.drop(columns=["release", "debut"])
    rec = Recommender(random_state=seed).fit(sim.events, tracks)
    disc = (
        Discovery(rec, size, tracks=tracks, random_state=seed, **(discovery or {}))
        if name == "ours"
        else None
    )
    n_users = len(s["cl_w"])
    before = [set(a) for a in s["known_artists"]]
    found: list[dict[int, set[int]]] = [{} for _ in range(n_users)]  # new artist -> rounds
    second_full = np.zeros(n_users)
    mix_mean = np.mean([world.mix(cfg.weeks + r) for r in range(rounds)], axis=0)
    order = np.argsort(-mix_mean, axis=1)
    multi = (s["cl_w"] > 0).sum(1) >= 2
    full_total = starts = 0
    users = [f"u{x}" for x in range(n_users)]
    for r in range(rounds):
        week = cfg.weeks + r
        served_u, served_i = [], []
        for x, user in enumerate(users):
            if disc is not None:
                ids = disc.playlist(user)["track_id"].to_numpy()
            else:
                ids = rec.recommend(user, size)["track_id"].to_numpy()
            items = s["track_index"].get_indexer(ids)
            served_u.append(np.full(len(items), x))
            served_i.append(items)
        u_arr, i_arr = np.concatenate(served_u), np.concatenate(served_i)
        ev, full = world.respond(u_arr, i_arr, week, rng)
        full_total += int(full.sum())
        starts += len(ev)
        for x, i in zip(u_arr[full], i_arr[full], strict=True):
            a = int(s["artist"][i])
            if a not in before[x]:
                found[x].setdefault(a, set()).add(r)
        suit = world.suits(u_arr, i_arr)
        hit = full & (suit == order[u_arr, 1])
        np.add.at(second_full, u_arr[hit], 1)
        if disc is not None:
            disc.update(ev)
        else:
            rec.partial_fit(ev)
    return {
        "world": cfg.name,
        "policy": name,
        "full_plays": full_total,
        "full_rate": full_total / max(starts, 1),
        "new_artists": float(np.mean([len(f) for f in found])),
        "adopted": float(np.mean([sum(len(v) >= 2 for v in f.values()) for f in found])),
        "second_cluster": float((second_full[multi] >= 3).mean()) if multi.any() else float("nan"),
    }


def worlds(
    set_name: str, rounds: int, size: int, seed: int, discovery: dict[str, Any] | None = None
) -> pd.DataFrame:
    chosen = {"tuning": TUNING, "held-out": HELD_OUT, "all": TUNING + HELD_OUT}[set_name]
    rows = []
    for cfg in chosen:
        for name in ("greedy", "ours"):
            t = time.time()
            rows.append(run_policy(name, cfg, rounds, size, seed, discovery))
            print(f"  {cfg.name} {name}: {time.time() - t:.0f} s", flush=True)
    df = pd.DataFrame(rows)
    g = df[df.policy == "greedy"].set_index("world")
    df["full_vs_greedy"] = df["full_plays"] / df["world"].map(g["full_plays"])
    df["new_artists_vs_greedy"] = df["new_artists"] / df["world"].map(g["new_artists"])
    df["adopted_vs_greedy"] = df["adopted"] / df["world"].map(g["adopted"])
    df["second_cluster_vs_greedy"] = df["second_cluster"] / df["world"].map(g["second_cluster"])
    pd.set_option("display.width", 220)
    print(f"\n{rounds} weekly rounds x {size} tracks per listener (seed {seed})")
    print(df.round(4).to_string(index=False))
    return df
