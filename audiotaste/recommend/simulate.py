"""A seeded simulator of a small music service, for evaluating recommenders offline.

Artists have a style (genre and mood mix, tempo, energy) and a popularity; tracks vary around their
artist's style and carry a hidden quality that only listening reveals. Users have genre and mood
tastes that drift week by week, a tempo range, an energy preference, openness (how varied their
listening is), activity, and favourite artists. Each week every user plays tracks chosen by taste,
popularity and a release-week boost, and finishes, half-listens or skips each play according to how
much they like it. A share of the tracks (``cold_fraction``) is released only in the final week, half
of them by artists nobody has heard before (debut artists), so they have no listens before the split.

The tracks frame follows the catalogue's columns, with *noisy* observed tags and embedding (as a
tagger would produce) — never the true latent taste variables.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

GENRES = ("rock", "pop", "jazz", "classical", "electronic", "hiphop", "folk", "metal")
MOODS = ("happy", "sad", "calm", "energetic", "dark", "romantic")


@dataclass(frozen=True)
class Simulation:
    """Output of :func:`simulate`.

    Attributes
    ----------
    events : pandas.DataFrame
        All plays, in the events schema (``skipped`` and ``reason_end`` included).
    tracks : pandas.DataFrame
        Catalogue columns plus ``release`` (UTC timestamp) and ``debut`` (bool: artist's first week).
    users : pandas.DataFrame
        The hidden truth per user: ``openness``, ``activity``, ``tempo_center``, ``energy_pref``,
        ``drift``, ``top_genre``.
    split : pandas.Timestamp
        Start of the final week: events from here on are the test period.
    """

    events: pd.DataFrame
    tracks: pd.DataFrame
    users: pd.DataFrame
    split: pd.Timestamp


def simulate(
    *,
    n_users: int = 1000,
    n_artists: int = 400,
    n_tracks: int = 5000,
    weeks: int = 10,
    plays_per_week: float = 25.0,
    cold_fraction: float = 0.2,
    emb_dim: int = 16,
    start: str = "2025-01-06",
    genre_concentration: float | None = None,
    random_state: int = 0,
) -> Simulation:
    """Simulate ``weeks`` weeks of listening.

    Parameters
    ----------
    n_users, n_artists, n_tracks
        Sizes.
    weeks
        Weeks simulated; the last one is the test week in which the cold tracks are released.
    plays_per_week
        Median plays per user per week (activity is log-normal around it).
    cold_fraction
        Share of tracks released only in the final week (half of them by debut artists).
    emb_dim
        Width of the simulated tagger embedding ``emb_*``.
    genre_concentration
        ``None`` (the default): each listener's genre taste and the taste it drifts towards are two
        independent Dirichlet draws, so tastes are broad (median top-genre share about 0.3 by the
        end of the history) and drifting can replace the favourite genre. A number ``s > 0``:
        concentrated listeners (see :func:`concentrated_tastes` for what this rests on): one
        dominant genre and a Zipf tail with exponent ``s * (1.5 - openness)``, and drift that
        reorders the tail but keeps the dominant genre. The artists, the tracks' true style and
        every other listener trait are drawn exactly as with ``None`` (the plays, and the
        observed tags' noise drawn after them, differ).
    random_state
        Seed; the same seed gives the same frames.
    """
    rng = np.random.default_rng(random_state)
    G, M = len(GENRES), len(MOODS)
    t0 = pd.Timestamp(start, tz="UTC")
    split = t0 + pd.Timedelta(weeks=weeks - 1)

    # --- artists: a style and a popularity; the debut ones release only in the final week
    a_genre = rng.dirichlet(np.full(G, 0.3), n_artists)
    a_mood = rng.dirichlet(np.full(M, 0.5), n_artists)
    a_tempo = np.exp(rng.normal(np.log(115), 0.2, n_artists))
    a_energy = rng.beta(2, 2, n_artists)
    a_pop = rng.lognormal(0.0, 1.0, n_artists)
    n_cold = int(round(cold_fraction * n_tracks))
    n_debut_artists = max(1, int(round(n_artists * cold_fraction * 0.5)))
    debut_artist = np.zeros(n_artists, bool)
    debut_artist[rng.choice(n_artists, n_debut_artists, replace=False)] = True

    # --- tracks: debut artists' tracks make half of the cold ones, known artists' new releases the rest
    n_debut_tracks = n_cold // 2
    debut_ids = np.flatnonzero(debut_artist)
    known_ids = np.flatnonzero(~debut_artist)
    artist = np.concatenate(
        [
            rng.choice(debut_ids, n_debut_tracks),
            rng.choice(known_ids, n_tracks - n_debut_tracks, p=_norm(a_pop[known_ids] ** 0.5)),
        ]
    )
    cold = np.zeros(n_tracks, bool)
    cold[:n_debut_tracks] = True
    cold[
        n_debut_tracks
        + rng.choice(n_tracks - n_debut_tracks, n_cold - n_debut_tracks, replace=False)
    ] = True
    release_week = np.where(
        cold, weeks - 1, np.clip(rng.integers(-4, weeks - 1, n_tracks), 0, None)
    )
    g = np.vstack([rng.dirichlet(a_genre[a] * 20 + 0.05) for a in artist])
    m = np.vstack([rng.dirichlet(a_mood[a] * 10 + 0.1) for a in artist])
    tempo = a_tempo[artist] * np.exp(rng.normal(0, 0.08, n_tracks))
    energy = np.clip(a_energy[artist] + rng.normal(0, 0.12, n_tracks), 0, 1)
    dance = np.clip(0.3 + 0.4 * energy + rng.normal(0, 0.15, n_tracks), 0, 1)
    quality = rng.normal(0, 0.5, n_tracks)
    duration = rng.uniform(150, 360, n_tracks)

    # --- users
    openness = rng.beta(2, 3, n_users)
    u_genre0 = np.vstack([rng.dirichlet(np.full(G, 0.15 + 1.5 * o)) for o in openness])
    u_genre1 = np.vstack([rng.dirichlet(np.full(G, 0.15 + 1.5 * o)) for o in openness])
    if genre_concentration is not None:
        # A stream of its own, so that every other draw (and the default) stays as it was.
        u_genre0, u_genre1 = concentrated_tastes(
            openness, G, genre_concentration, np.random.default_rng([random_state, 8])
        )
    drift = rng.uniform(0, 0.5, n_users)
    u_mood = np.vstack([rng.dirichlet(np.full(M, 0.3 + 1.0 * o)) for o in openness])
    u_tempo = np.exp(rng.normal(np.log(115), 0.2, n_users))
    u_tempo_w = 0.12 + 0.25 * openness
    u_energy = rng.beta(2, 2, n_users)
    activity = rng.lognormal(np.log(plays_per_week), 0.7, n_users)
    # Favourite artists: a few per user, drawn by popularity and style match (debut ones too).
    a_match = u_genre0 @ a_genre.T
    fav = np.zeros((n_users, n_artists), np.float32)
    for u in range(n_users):
        p = _norm(a_pop * a_match[u] ** 2 + 1e-9)
        fav[u, rng.choice(n_artists, 3, replace=False, p=p)] = 1.0

    static = (
        1.5 * (u_mood @ m.T) / np.sqrt((u_mood**2).sum(1, keepdims=True) * (m**2).sum(1))
        - ((np.log(tempo)[None, :] - np.log(u_tempo)[:, None]) / u_tempo_w[:, None]) ** 2 * 0.5
        - 2.0 * np.abs(energy[None, :] - u_energy[:, None])
        + 1.5 * fav[:, artist]
        + quality[None, :]
    ).astype(np.float32)
    log_pop = np.log(a_pop[artist]).astype(np.float32)

    rows: list[pd.DataFrame] = []
    for w in range(weeks):
        mix = np.clip(drift * w / max(weeks - 1, 1), 0, 1)[:, None]
        u_genre = (1 - mix) * u_genre0 + mix * u_genre1
        aff = static + 3.0 * (u_genre @ g.T) / np.sqrt(
            (u_genre**2).sum(1, keepdims=True) * (g**2).sum(1)
        )
        released = release_week <= w
        # Open listeners follow the charts less and explore more.
        logits = (
            aff * (1.5 - openness[:, None]) + 0.6 * log_pop[None, :] + 1.0 * (release_week == w)
        )
        logits = np.where(released[None, :], logits, -np.inf)
        n_plays = rng.poisson(activity)
        uniform = rng.random(logits.shape, dtype=np.float32).clip(1e-12, 1 - 1e-7)
        gumbel = logits - np.log(-np.log(uniform))
        for u in range(n_users):
            k = int(min(n_plays[u], released.sum()))
            if k == 0:
                continue
            items = np.argpartition(-gumbel[u], k - 1)[:k]
            like = 1 / (1 + np.exp(-2.0 * (aff[u, items] - 1.2)))
            r = rng.random(k)
            full = r < like
            early = ~full & (rng.random(k) < 0.65)
            frac = np.where(
                full, rng.uniform(0.92, 1.0, k), np.where(early, 0, rng.uniform(0.2, 0.6, k))
            )
            ms = np.where(early, rng.uniform(1_000, 29_000, k), frac * duration[items] * 1000)
            ts = (
                t0
                + pd.Timedelta(weeks=w)
                + pd.to_timedelta(np.sort(rng.uniform(0, 7 * 86400, k)), unit="s")
            )
            rows.append(
                pd.DataFrame(
                    {
                        "user_id": f"u{u:05d}",
                        "track_id": [f"t{i:06d}" for i in items],
                        "timestamp": ts,
                        "ms_played": ms.astype(np.int64),
                        "skipped": ~full,
                        "reason_end": np.where(full, "trackdone", "fwdbtn"),
                    }
                )
            )
    events = pd.concat(rows, ignore_index=True).sort_values(
        "timestamp", kind="stable", ignore_index=True
    )

    emb_w = rng.normal(0, 1, (G + M + 2, emb_dim))
    latent = np.hstack([g, m, ((np.log(tempo) - np.log(115)) / 0.2)[:, None], energy[:, None]])
    emb = latent @ emb_w / np.sqrt(G + M) + rng.normal(0, 0.3, (n_tracks, emb_dim))
    tracks = pd.DataFrame(
        {
            "track_id": [f"t{i:06d}" for i in range(n_tracks)],
            "artist": [f"Artist {a:04d}" for a in artist],
            "artist_id": [f"a{a:04d}" for a in artist],
            "title": [f"Track {i}" for i in range(n_tracks)],
            "duration_s": duration,
            "tempo_bpm": tempo * np.where(rng.random(n_tracks) < 0.05, 2.0, 1.0),  # octave errors
            "key": rng.integers(0, 12, n_tracks),
            "mode": rng.integers(0, 2, n_tracks),
            "loudness_lufs": -14 + 6 * (energy - 0.5) + rng.normal(0, 1.5, n_tracks),
            "energy": np.clip(energy + rng.normal(0, 0.08, n_tracks), 0, 1),
            "danceability": dance,
        }
    )
    noisy_g = np.clip(g + rng.normal(0, 0.08, g.shape), 0, 1)
    noisy_m = np.clip(m + rng.normal(0, 0.1, m.shape), 0, 1)
    tags = {f"genre.{n}": noisy_g[:, j] for j, n in enumerate(GENRES)}
    tags |= {f"mood.{n}": noisy_m[:, j] for j, n in enumerate(MOODS)}
    tags |= {f"emb_{j}": emb[:, j].astype(np.float32) for j in range(emb_dim)}
    tracks = pd.concat([tracks, pd.DataFrame(tags)], axis=1)
    tracks["release"] = t0 + pd.to_timedelta(release_week * 7, unit="D")
    tracks["debut"] = debut_artist[artist]
    users = pd.DataFrame(
        {
            "user_id": [f"u{u:05d}" for u in range(n_users)],
            "openness": openness,
            "activity": activity,
            "tempo_center": u_tempo,
            "energy_pref": u_energy,
            "drift": drift,
            "top_genre": [GENRES[j] for j in u_genre0.argmax(1)],
        }
    )
    return Simulation(events, tracks, users, split)


def concentrated_tastes(
    openness: np.ndarray, n_genres: int, exponent: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Genre tastes with a dominant genre and a long tail, and the tastes they drift towards.

    What this rests on: listeners' breadth is a stable trait — Spotify's generalist-specialist
    score of over 100 M listeners, computed a year apart (July 2018, July 2019), barely moved
    (Anderson et al., "Algorithmic effects on the diversity of consumption on Spotify", 2020;
    research.atspotify.com/2020/12/algorithmic-effects-on-the-diversity-of-consumption-on-spotify)
    — while the mix around it keeps moving (Sanna Passino et al., "Finding structure in users'
    evolving listening preferences", 2021: total-variation distance between a listener's
    quarterly micro-genre mixes growing from about 0.4 to 0.6 over four years), and most
    listeners favour repeating what they know over exploring (Louail & Barthelemy, "Headphones
    on the wire", arXiv:1704.05815). The Zipf shape and its exponent are our modelling choice,
    not a measured figure: with ``s = 1.5`` a listener's dominant genre holds a median 0.57 of
    the taste and the second 0.17, against 0.31 and 0.20 for the default Dirichlet draws (after
    the history's drift).

    Parameters
    ----------
    openness
        Per listener, in [0, 1]; open listeners get a flatter tail.
    n_genres
        Number of genres.
    exponent
        ``s``: the genre of rank ``r`` gets weight ``r ** -(s * (1.5 - openness))``; the tail's
        weights get a log-normal jitter (sigma 0.25, capped at 0.9 of the head's) before
        normalisation.
    rng
        Random stream.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        ``[n_listeners, n_genres]`` tastes now and the tastes drifted towards: the same dominant
        genre, the tail genres in a new random order.
    """
    n = len(openness)
    ranks = np.arange(1, n_genres + 1, dtype=float)
    weight = ranks[None, :] ** -(exponent * (1.5 - np.asarray(openness, float)))[:, None]
    order0 = np.argsort(rng.random((n, n_genres)), axis=1)
    tail = np.argsort(rng.random((n, n_genres - 1)), axis=1)
    order1 = np.hstack([order0[:, :1], np.take_along_axis(order0[:, 1:], tail, axis=1)])
    out = []
    for order in (order0, order1):
        taste = np.zeros((n, n_genres))
        # Jitter the tail only, and keep it below the head, so the dominant genre stays dominant.
        w = weight.copy()
        w[:, 1:] = np.minimum(w[:, 1:] * np.exp(rng.normal(0.0, 0.25, (n, n_genres - 1))), 0.9)
        np.put_along_axis(taste, order, w, axis=1)
        out.append(taste / taste.sum(1, keepdims=True))
    return out[0], out[1]


def _norm(p: np.ndarray) -> np.ndarray:
    return p / p.sum()
