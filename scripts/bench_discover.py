"""Weekly discovery playlists on the recommender's simulator: greedy vs epsilon-greedy vs Discovery.

After the simulator's logged history, every listener gets a playlist a week for ``--rounds`` weeks.
The simulated listeners are concentrated by default (``simulate(genre_concentration=1.5)``: a
dominant genre and a Zipf tail that reorders as they drift; ``--genre-concentration 0`` gives the
simulator's default broad tastes, on which every policy saturates the discovery measure).
Each policy has its own Recommender (fitted on the same history) and learns only from the feedback
to its own playlists. The simulated listeners keep drifting (their genre taste keeps moving towards
its second pole at the simulator's per-listener rate), start every track they are given, and finish,
half-listen or skip it with the simulator's own probabilities.

Measured, side by side in one run:
- cumulative full plays, skip rate (early skips per start), discovery (share of listeners whose
  second-favourite genre, by the true drifting taste averaged over the rounds, got >= 3 full plays);
- off-policy estimates (IPS, SNIPS) of two other shelf policies' full-play rate from Discovery's logs,
  against running those policies in the simulator on the same weeks (what-if playlists from the same
  state, scored with the simulator's true full-play probabilities);
- playlist latency on a 20,000-track catalogue.

    nice -n 10 .venv/bin/python scripts/bench_discover.py            # full run
    nice -n 10 .venv/bin/python scripts/bench_discover.py --quick    # small, for a smoke test
    nice -n 10 .venv/bin/python scripts/bench_discover.py --worlds held-out   # the worlds' services

The simulator keeps its listeners' true tastes to itself, so this script reads them from the
simulator's frame as it returns (``sys.setprofile``) rather than re-implementing the simulator.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import time
import warnings
from dataclasses import dataclass
from typing import Any

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from audiotaste.recommend import Recommender  # noqa: E402
from audiotaste.recommend import simulate as simulator  # noqa: E402
from audiotaste.recommend.explore import ARMS, Discovery, off_policy_estimate  # noqa: E402

warnings.filterwarnings("ignore", category=RuntimeWarning, module="implicit")
#: Discovery's settings in the benchmark (its defaults unless --discovery overrides them).
DISCOVERY: dict[str, Any] = {}


@dataclass
class World:
    """The simulator's hidden state, enough to answer new playlists the way it answers plays."""

    sim: simulator.Simulation
    state: dict[str, Any]

    @classmethod
    def create(cls, **kwargs: Any) -> World:
        state: dict[str, Any] = {}

        def grab(frame: Any, event: str, arg: Any) -> None:
            if event == "return" and frame.f_code is simulator.simulate.__code__:
                state.update(frame.f_locals)

        old = sys.getprofile()
        sys.setprofile(grab)
        try:
            sim = simulator.simulate(**kwargs)
        finally:
            sys.setprofile(old)
        need = {"static", "g", "u_genre0", "u_genre1", "drift", "weeks", "duration", "t0"}
        if not need <= set(state):
            raise RuntimeError(f"the simulator no longer exposes {sorted(need - set(state))}")
        return cls(sim, state)

    def genre_taste(self, week: int) -> np.ndarray:
        s = self.state
        mix = np.clip(s["drift"] * week / max(s["weeks"] - 1, 1), 0, 1)[:, None]
        return (1 - mix) * s["u_genre0"] + mix * s["u_genre1"]

    def like(self, u: np.ndarray, items: np.ndarray, week: int) -> np.ndarray:
        """True full-play probability of ``items[k]`` for listener ``u[k]`` in ``week``."""
        s = self.state
        ug = self.genre_taste(week)[u]
        g = s["g"][items]
        cos = (ug * g).sum(1) / np.sqrt((ug**2).sum(1) * (g**2).sum(1))
        aff = s["static"][u, items] + 3.0 * cos
        return 1 / (1 + np.exp(-2.0 * (aff - 1.2)))

    def respond(
        self, u: np.ndarray, items: np.ndarray, week: int, rng: np.random.Generator
    ) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
        """Events for every started track (all of them), full-play flags and early-skip flags."""
        s = self.state
        k = len(items)
        full = rng.random(k) < self.like(u, items, week)
        early = ~full & (rng.random(k) < 0.65)
        dur = s["duration"][items]
        frac = np.where(
            full, rng.uniform(0.92, 1.0, k), np.where(early, 0, rng.uniform(0.2, 0.6, k))
        )
        ms = np.where(early, rng.uniform(1_000, 29_000, k), frac * dur * 1000)
        ts = (
            s["t0"]
            + pd.Timedelta(weeks=week)
            + pd.to_timedelta(rng.uniform(0, 7 * 86400, k), unit="s")
        )
        ev = pd.DataFrame(
            {
                "user_id": [f"u{x:05d}" for x in u],
                "track_id": [f"t{i:06d}" for i in items],
                "timestamp": ts,
                "ms_played": ms.astype(np.int64),
                "skipped": ~full,
                "reason_end": np.where(full, "trackdone", "fwdbtn"),
            }
        ).sort_values("timestamp", ignore_index=True)
        return ev, full, early


def _idx(ids: pd.Series | np.ndarray) -> np.ndarray:
    return np.array([int(str(x)[1:]) for x in ids], np.int64)


def run_policy(
    name: str,
    world: World,
    users: list[str],
    rounds: int,
    size: int,
    seed: int,
    targets: dict[str, dict[str, float]],
) -> dict[str, Any]:
    sim = world.sim
    rng = np.random.default_rng(seed)
    rec = Recommender(random_state=seed).fit(sim.events, sim.tracks)
    disc = (
        Discovery(rec, size, tracks=sim.tracks, random_state=seed, **DISCOVERY)
        if name == "ours"
        else None
    )
    # The listeners' artists before the rounds: a full play of anyone else is a new-artist find.
    artist_of = sim.tracks.set_index("track_id")["artist_id"]
    known_pairs = set(
        zip(sim.events["user_id"], sim.events["track_id"].map(artist_of), strict=True)
    )
    weeks = world.state["weeks"]
    n_genre = world.state["g"].shape[1]
    u_all = _idx(pd.Series(users))
    genre_full = np.zeros((len(world.state["drift"]), n_genre))
    genre_new = np.zeros_like(genre_full)
    full_total = starts = early_total = 0
    truth: dict[str, list[np.ndarray]] = {t: [] for t in targets}
    ms_per_playlist: list[float] = []
    for r in range(rounds):
        week = weeks + r
        served_u, served_i = [], []
        # What-if copies of this week's Discovery (same recommender, bandit, re-ranker and shown
        # tracks) that fill slots from a fixed shelf mix instead; they log nothing.
        shadows: dict[str, Discovery] = {}
        for t, mix in targets.items():
            if disc is None:
                break
            sh = copy.copy(disc)
            sh.mix = mix
            sh._rng = np.random.default_rng(seed + 100 * r + len(shadows) + 1)
            shadows[t] = sh
        for user, ui in zip(users, u_all, strict=True):
            # before the real one, which marks its tracks as shown
            for t, sh in shadows.items():
                what_if = _idx(sh.playlist(user, record=False)["track_id"])
                truth[t].append(world.like(np.full(len(what_if), ui), what_if, week))
            t0 = time.process_time()
            if disc is not None:
                ids = disc.playlist(user)["track_id"]
            elif name == "greedy-content":
                ids = _content_top(rec, user, size)
            else:
                rec_ids = rec.recommend(user, size + (size if name == "epsilon" else 0))[
                    "track_id"
                ].to_numpy()
                ids = list(rec_ids[:size])
                if name == "epsilon":
                    ids = _epsilon(rec, user, rec_ids, size, rng)
            ms_per_playlist.append((time.process_time() - t0) * 1000)
            items = _idx(pd.Series(ids))
            served_u.append(np.full(len(items), ui))
            served_i.append(items)
        u_arr, i_arr = np.concatenate(served_u), np.concatenate(served_i)
        ev, full, early = world.respond(u_arr, i_arr, week, rng)
        # respond() sorts by time: recompute flags aligned with the events
        ev_u, ev_i = _idx(ev["user_id"]), _idx(ev["track_id"])
        full_sorted = ~ev["skipped"].to_numpy()
        full_total += int(full.sum())
        early_total += int(early.sum())
        starts += len(ev)
        true_genre = world.state["g"][ev_i].argmax(1)
        np.add.at(genre_full, (ev_u[full_sorted], true_genre[full_sorted]), 1)
        fresh = np.array(
            [
                (a, b) not in known_pairs
                for a, b in zip(ev["user_id"], ev["track_id"].map(artist_of), strict=True)
            ]
        )
        np.add.at(genre_new, (ev_u[full_sorted & fresh], true_genre[full_sorted & fresh]), 1)
        if disc is not None:
            disc.update(ev)
        else:
            rec.partial_fit(ev)
    taste = np.mean([world.genre_taste(weeks + r) for r in range(rounds)], axis=0)
    second = np.argsort(-taste, axis=1)[:, 1]
    second_full = genre_full[u_all, second[u_all]]
    discovered = (second_full >= 3).mean()
    out: dict[str, Any] = {
        "policy": name,
        "full_plays": full_total,
        "full_rate": full_total / max(starts, 1),
        "skip_rate": early_total / max(starts, 1),
        "discovery": float(discovered),
        "discovery_new_artists": float((genre_new[u_all, second[u_all]] >= 3).mean()),
        "second_genre_full_p50": float(np.median(second_full)),
        "cpu_ms_p50": float(np.median(ms_per_playlist)),
    }
    if disc is not None:
        log = disc.log_
        out["ope"] = {}
        for t, mix in targets.items():
            est = off_policy_estimate(log, mix)
            est["truth"] = float(np.concatenate(truth[t]).mean())
            out["ope"][t] = est
        out["arm_share"] = (
            log["arm"].value_counts(normalize=True).reindex(list(ARMS)).fillna(0).round(3).to_dict()
        )
        out["arm_full_rate"] = (
            log.groupby("arm")["reward"].mean().reindex(list(ARMS)).round(3).to_dict()
        )
    return out


def _content_top(rec: Recommender, user: str, size: int) -> list[str]:
    """Top tracks by the content part of the score alone (cosine with the listener's taste)."""
    u = int(np.flatnonzero(rec.user_ids_ == user)[0])
    sc = rec.X_ @ rec.taste_[u]
    sc[rec.plays_[u].indices] = -np.inf
    top = np.argpartition(-sc, size)[:size]
    return [str(t) for t in rec.track_ids_[top[np.argsort(-sc[top])]]]


def _epsilon(
    rec: Recommender,
    user: str,
    ranked: np.ndarray,
    size: int,
    rng: np.random.Generator,
    eps: float = 0.1,
) -> list[str]:
    """Each slot: with probability ``eps`` a random unheard track, else the next greedy one."""
    heard = set(rec.track_ids_[rec.plays_[int(np.flatnonzero(rec.user_ids_ == user)[0])].indices])
    out: list[str] = []
    greedy = iter(ranked)
    while len(out) < size:
        if rng.random() < eps:
            t = str(rec.track_ids_[rng.integers(len(rec.track_ids_))])
            if t in heard or t in out:
                continue
        else:
            t = str(next(greedy, ""))
            if not t or t in out:
                continue
        out.append(t)
    return out


def speed(n_tracks: int, n_users: int, seed: int) -> dict[str, float]:
    sim = simulator.simulate(
        n_users=n_users,
        n_tracks=n_tracks,
        n_artists=max(400, n_tracks // 12),
        weeks=4,
        random_state=seed,
    )
    rec = Recommender(random_state=seed).fit(sim.events, sim.tracks)
    disc = Discovery(rec, 30, tracks=sim.tracks, random_state=seed)
    users = list(rec.user_ids_[:200])
    disc.playlist(users[0], record=False)
    cpu, wall = [], []
    for u in users:
        t0, w0 = time.process_time(), time.perf_counter()
        disc.playlist(u, record=False)
        cpu.append((time.process_time() - t0) * 1000)
        wall.append((time.perf_counter() - w0) * 1000)
    return {
        "tracks": n_tracks,
        "cpu_p50_ms": float(np.median(cpu)),
        "cpu_p95_ms": float(np.percentile(cpu, 95)),
        "wall_p50_ms": float(np.median(wall)),
        "load": os.getloadavg()[0],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--users", type=int, default=1000)
    # 20,000 tracks: with 5,000 a listener's 240 slots exhaust the well-liked tracks of their
    # favourite genre, so any policy (even the true-taste ranking) spills into the second one.
    ap.add_argument("--tracks", type=int, default=20_000)
    ap.add_argument("--artists", type=int, default=1600)
    ap.add_argument("--weeks", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--size", type=int, default=30)
    ap.add_argument("--speed-tracks", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--genre-concentration",
        type=float,
        default=1.5,
        help="simulate(genre_concentration=...): listeners with a dominant genre and a Zipf tail; "
        "0 for the simulator's default broad Dirichlet tastes",
    )
    ap.add_argument("--quick", action="store_true", help="200 listeners, 5,000 tracks, 4 rounds")
    ap.add_argument("--policies", default="greedy,greedy-content,epsilon,ours")
    ap.add_argument(
        "--no-ope", action="store_true", help="skip the off-policy check (half the time)"
    )
    ap.add_argument("--no-speed", action="store_true")
    ap.add_argument("--discovery", default="{}", help="JSON of Discovery keyword arguments")
    ap.add_argument(
        "--worlds",
        choices=("tuning", "held-out", "all"),
        help="run greedy and Discovery on the worlds of audiotaste.recommend.worlds instead "
        "(scripts/_bench_discover_worlds.py)",
    )
    args = ap.parse_args()
    DISCOVERY.update(json.loads(args.discovery))
    if args.worlds:
        from _bench_discover_worlds import worlds

        worlds(args.worlds, args.rounds, args.size, args.seed, DISCOVERY)
        return
    if args.quick:
        args.users, args.tracks, args.artists, args.rounds, args.speed_tracks = (
            200,
            5000,
            400,
            4,
            5000,
        )
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass
    t0 = time.time()
    world = World.create(
        n_users=args.users,
        n_tracks=args.tracks,
        n_artists=args.artists,
        weeks=args.weeks,
        genre_concentration=args.genre_concentration or None,
        random_state=args.seed,
    )
    print(
        f"simulated {args.users} listeners, {args.tracks} tracks, {len(world.sim.events)} plays in {time.time() - t0:.0f} s"
    )
    users = [f"u{u:05d}" for u in range(args.users)]
    targets = {
        "uniform shelves": {a: 1.0 for a in ARMS},
        "mostly for-you": {"for_you": 0.5} | {a: 0.1 for a in ARMS if a != "for_you"},
    }
    results = []
    for name in args.policies.split(","):
        t1 = time.time()
        res = run_policy(
            name, world, users, args.rounds, args.size, args.seed, {} if args.no_ope else targets
        )
        res["seconds"] = time.time() - t1
        results.append(res)
        print(f"  {name}: {res['seconds']:.0f} s", flush=True)
    table = pd.DataFrame(
        [{k: v for k, v in r.items() if k not in ("ope", "arm_share")} for r in results]
    )
    g = table.set_index("policy").iloc[0]
    table["full_vs_greedy"] = table["full_plays"] / g["full_plays"]
    table["discovery_vs_greedy"] = table["discovery"] / max(g["discovery"], 1e-12)
    pd.set_option("display.width", 200)
    print(
        f"\n{args.rounds} weekly rounds x {args.size} tracks, {args.users} listeners (seed {args.seed})"
    )
    print(table.round(4).to_string(index=False))
    ours = results[-1]
    if "ope" not in ours:
        return
    print("\nshelf share of Discovery's slots:", ours["arm_share"])
    print("full-play rate per shelf:", ours["arm_full_rate"])
    print(
        "\noff-policy estimates of the full-play rate from Discovery's logs vs the simulated truth"
    )
    rows = []
    for t, est in ours["ope"].items():
        rows.append(
            {
                "target policy": t,
                **{k: est[k] for k in ("truth", "ips", "snips", "logged", "n", "ess")},
                "ips_err_%": 100 * (est["ips"] / est["truth"] - 1),
                "snips_err_%": 100 * (est["snips"] / est["truth"] - 1),
            }
        )
    print(pd.DataFrame(rows).round(4).to_string(index=False))
    if args.no_speed:
        return
    sp = speed(args.speed_tracks, 500, args.seed)
    print(
        f"\nplaylist latency on a {sp['tracks']}-track catalogue (200 listeners): CPU time p50 "
        f"{sp['cpu_p50_ms']:.1f} ms, p95 {sp['cpu_p95_ms']:.1f} ms; wall p50 {sp['wall_p50_ms']:.1f} ms "
        f"at load average {sp['load']:.1f} on {os.cpu_count()} cores"
    )
    print(f"total {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
