from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from audiotaste.recommend import Recommender
from audiotaste.recommend.explore import ARMS, Discovery, full_plays, off_policy_estimate


def _log(n: int, rates: dict[str, float], logging: dict[str, float], seed: int = 0) -> pd.DataFrame:
    """Slots logged by a fixed shelf mix, rewards Bernoulli with a known rate per shelf."""
    rng = np.random.default_rng(seed)
    arms = list(logging)
    p = np.array([logging[a] for a in arms])
    pick = rng.choice(len(arms), n, p=p)
    frame = pd.DataFrame({"arm": np.array(arms)[pick], "propensity": p[pick]})
    frame["reward"] = (rng.random(n) < frame["arm"].map(rates)).astype(float)
    for a in ARMS:
        frame[f"p.{a}"] = logging.get(a, 0.0)
    return frame


def test_ips_recovers_known_rates() -> None:
    rates = {"for_you": 0.2, "new": 0.5, "outside": 0.8}
    log = _log(60_000, rates, {"for_you": 0.6, "new": 0.3, "outside": 0.1})
    assert log["reward"].mean() == pytest.approx(0.35, abs=0.01)
    only_outside = off_policy_estimate(log, {"outside": 1.0})
    assert only_outside["ips"] == pytest.approx(0.8, abs=0.03)
    assert only_outside["snips"] == pytest.approx(0.8, abs=0.01)
    uniform = off_policy_estimate(log, {a: 1.0 for a in ARMS})  # renormalised over the 3 logged
    assert uniform["snips"] == pytest.approx(0.5, abs=0.01)
    assert uniform["ips"] == pytest.approx(0.5, abs=0.02)
    assert 0 < only_outside["ess"] < 0.2 * len(log)
    as_function = off_policy_estimate(log, lambda rows: (rows["arm"] == "new").to_numpy(float))
    assert as_function["snips"] == pytest.approx(0.5, abs=0.01)
    assert np.isnan(off_policy_estimate(log.iloc[:0], {"new": 1})["ips"])


def test_full_plays() -> None:
    ev = pd.DataFrame(
        {
            "ms_played": [200_000, 150_000, 5_000, 130_000],
            "reason_end": ["trackdone", "fwdbtn", "fwdbtn", "trackdone"],
        }
    )
    assert full_plays(ev, np.array([210.0, 160.0, 200.0, np.nan])).tolist() == [
        True,
        True,
        False,
        True,
    ]
    assert full_plays(ev.drop(columns="reason_end")).tolist() == [True, True, False, True]


@pytest.fixture()
def disc(split, fitted):
    """A fresh Discovery over a copy of the session's fitted recommender (update() changes it)."""
    train, _, tracks = split
    rec = Recommender(factors=16, iterations=8).fit(train, tracks)
    return Discovery(rec, 30, tracks=tracks, random_state=0)


def test_playlist_follows_the_contract(disc, split) -> None:
    train, _, tracks = split
    user = disc.rec.user_ids_[3]
    pl = disc.playlist(user)
    assert list(pl.columns[:6]) == [
        "position",
        "track_id",
        "shelf",
        "reason",
        "score",
        "propensity",
    ]
    assert len(pl) == 30 and pl["track_id"].is_unique
    assert pl["position"].tolist() == list(range(1, 31))
    heard = set(train.loc[train["user_id"] == user, "track_id"])
    assert not heard & set(pl["track_id"])
    artists = tracks.set_index("track_id").loc[pl["track_id"], "artist_id"]
    assert artists.value_counts().max() == 1
    assert (pl["propensity"] >= disc.epsilon / len(ARMS) - 1e-12).all() and (
        pl["propensity"] <= 1
    ).all()
    assert all(r.startswith(s) for r, s in zip(pl["reason"], pl["shelf"], strict=True))
    assert pl["shelf"].str.startswith("because you like ").any() or pl["shelf"].eq("for you").any()
    log = disc.log_
    assert len(log) == 30
    assert np.allclose(log[[f"p.{a}" for a in ARMS]].sum(axis=1), 1.0)
    # shown tracks are not shown again next week
    again = disc.playlist(user)
    assert not set(again["track_id"]) & set(pl["track_id"])


def test_bandit_learns_which_shelf_is_finished(disc, split) -> None:
    users = list(disc.rec.user_ids_[:25])
    t = split[0]["timestamp"].max()
    for week in range(3):
        frames = [disc.playlist(u) for u in users]
        ev = pd.concat(frames, ignore_index=True)
        ev["user_id"] = np.repeat(users, [len(f) for f in frames])
        full = ev["arm"].eq("new").to_numpy()
        ev = pd.DataFrame(
            {
                "user_id": ev["user_id"],
                "track_id": ev["track_id"],
                "timestamp": t
                + pd.Timedelta(weeks=week)
                + pd.to_timedelta(np.arange(len(ev)), unit="s"),
                "ms_played": np.where(full, ev["duration_s"] * 1000, 5_000).astype(np.int64),
            }
        )
        disc.update(ev)
    b = disc.beliefs(users[0]).set_index("arm")
    assert b["mean"].idxmax() == "new"
    assert b.loc["new", "p_choose"] > 0.6
    log = disc.log_
    assert log["reward"].notna().all() and log["started"].all()
    assert log.loc[log["arm"] == "new", "reward"].eq(1).all()
    assert disc.coef_ is not None


def test_new_listener_and_thin_catalogues(split) -> None:
    train, _, tracks = split
    small = tracks.iloc[:20].copy()
    rec = Recommender(factors=8, iterations=3).fit(train, small)
    d = Discovery(rec, 30, tracks=small)
    pl = d.playlist(None)
    assert 0 < len(pl) <= 20 and pl["track_id"].is_unique
    unmet = " | ".join(pl.attrs["unmet"])
    assert "no listening history" in unmet and "length" in unmet
    assert d.playlist("nobody-at-all").attrs["unmet"][0].startswith("history")


def test_one_artist_and_no_key_or_tempo(split) -> None:
    train, _, tracks = split
    mono = tracks.drop(columns=["key", "mode", "tempo_bpm"]).assign(artist_id="a1", artist="Solo")
    rec = Recommender(factors=8, iterations=3).fit(train, mono)
    d = Discovery(rec, 30, tracks=mono)
    user = rec.user_ids_[0]
    pl = d.playlist(user)
    assert len(pl) == 30
    unmet = pl.attrs["unmet"]
    assert any(u.startswith("artist cap") for u in unmet)
    assert any(u.startswith("key: unknown for every track") for u in unmet)
    assert any(u.startswith("tempo: unknown for every track") for u in unmet)


def test_minutes_and_fixed_mix(disc) -> None:
    user = disc.rec.user_ids_[5]
    pl = disc.playlist(user, minutes=60, record=False)
    assert 57 <= pl["duration_s"].sum() / 60 <= 66
    assert disc.log_.empty
    fixed = Discovery(disc.rec, 20, mix={"for_you": 1.0, "new": 1.0}, random_state=1)
    pl = fixed.playlist(user)
    assert set(pl["arm"]) <= {"for_you", "new"}
    assert set(np.round(pl["propensity"], 6)) <= {0.5, 1.0}


def test_cli_discover(monkeypatch, split, tmp_path) -> None:
    import json

    from typer.testing import CliRunner

    from tests.recommend.conftest import discover_app

    train, _, tracks = split
    tracks = tracks.assign(path=[f"/music/{t}.ogg" for t in tracks["track_id"]])
    app = discover_app(monkeypatch, tracks)

    events = tmp_path / "events.parquet"
    train[train.user_id.isin(["u00001", "u00002"])].to_parquet(events)
    base = ["discover", "--events", str(events), "--db", str(tmp_path / "c.sqlite")]
    m3u = tmp_path / "week.m3u8"
    r = CliRunner().invoke(
        app, [*base, "--user", "u00001", "--minutes", "60", "--out", str(m3u), "--json"]
    )
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert 57 <= doc["minutes"] <= 66 and len(doc["beliefs"]) == 6
    assert all(t["reason"] for t in doc["tracks"])
    lines = m3u.read_text(encoding="utf-8").splitlines()
    assert (
        lines[0] == "#EXTM3U"
        and lines[2].startswith("/music/t")
        and len(lines) == 1 + 2 * doc["n_tracks"]
    )
    r = CliRunner().invoke(app, [*base, "--user", "someone-new", "--explain", "-n", "10"])
    assert r.exit_code == 0, r.output
    assert "'someone-new' is not in the listening history" in r.stdout
    assert "bandit's beliefs" in r.stdout and "popular here" in r.stdout
    r = CliRunner().invoke(
        app, [*base, "--user", "u00001", "--out", str(tmp_path / "no" / "dir.m3u8")]
    )
    assert r.exit_code == 1 and "cannot write the playlist" in r.output


def test_embedding_only_catalogue(split) -> None:
    """Another tagger's catalogue: no tags, artists, keys or tempi, only an embedding."""
    train, _, tracks = split
    emb = tracks[["track_id", *[c for c in tracks.columns if c.startswith("emb_")]]]
    rec = Recommender(factors=8, iterations=3).fit(train, emb)
    pl = Discovery(rec, 30).playlist(rec.user_ids_[0])
    assert len(pl) == 30 and pl["track_id"].is_unique
    assert set(pl["shelf"]) <= {"for you", "new releases"}
    unmet = " | ".join(pl.attrs["unmet"])
    assert "no genre.* tags" in unmet and "key: unknown for every track" in unmet


def test_discovery_quota_keeps_the_second_genre_shelf_alive(split) -> None:
    """A shelf the bandit has learned to avoid still gets its reserved share of slots, and the
    logged propensities include that share (they sum to 1 over the shelves)."""
    train, _, tracks = split
    rec = Recommender(factors=8, iterations=3).fit(train, tracks)
    user = str(rec.user_ids_[2])
    plain = Discovery(rec, 30, tracks=tracks, discovery_share=0.0, random_state=0)
    quota = Discovery(rec, 30, tracks=tracks, discovery_share=0.3, random_state=0)
    for d in (plain, quota):
        c = np.zeros((len(ARMS), 2))
        c[:, 0] = 40.0  # every shelf finished 40 times ...
        c[ARMS.index("second_genre")] = [2.0, 38.0]  # ... but the second genre's skipped
        d.counts_[user] = c
    b_plain = plain.beliefs(user).set_index("arm")
    b_quota = quota.beliefs(user).set_index("arm")
    assert b_plain.loc["second_genre", "p_choose"] < 0.05
    assert b_quota.loc["second_genre", "p_choose"] == pytest.approx(0.3 + 0.1 / 6, abs=0.01)
    assert b_quota["p_choose"].sum() == pytest.approx(1.0)
    # (fewer than 30 % here: this small catalogue runs out of new artists in those genres)
    share = quota.playlist(user)["arm"].eq("second_genre").mean()
    assert 0.15 <= share < 0.5
    assert plain.playlist(user)["arm"].eq("second_genre").mean() < 0.07
    logged = quota.log_
    assert np.allclose(logged[[f"p.{a}" for a in ARMS]].sum(axis=1), 1.0)
    # while the shelf had tracks, every slot gave it at least the quota
    has_second = logged["p.second_genre"] > 0
    assert (logged.loc[has_second, "p.second_genre"] >= 0.3).all()


def test_second_genres_shelf_spans_the_next_genres(disc) -> None:
    user = str(disc.rec.user_ids_[4])
    two = Discovery(disc.rec, 30, tracks=disc.tracks, second_genres=2, mix={"second_genre": 1})
    pl = two.playlist(user)
    label = pl.loc[pl["arm"] == "second_genre", "shelf"].iloc[0]
    assert label.startswith("because you like ") and " and " in label
    g1, g2 = label.removeprefix("because you like ").split(" and ")
    three = set(disc.playlist(user, record=False)["shelf"])  # the default: the next three genres
    assert g1 != g2 and any(x.startswith(f"because you like {g1}, {g2} and ") for x in three)
    genre_cols = [c for c in disc.tracks if c.startswith("genre.")]
    dominant = disc.tracks.set_index("track_id")[genre_cols].idxmax(axis=1).str[6:]
    on_shelf = dominant.loc[pl.loc[pl["arm"] == "second_genre", "track_id"]]
    assert set(on_shelf) <= {g1, g2}


def test_a_shelf_pool_takes_other_artists_before_a_second_track_of_one() -> None:
    from audiotaste.recommend.shelves import _shelf_pool

    score = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
    artist = np.array([0, 0, 0, 1, -1, 2])  # -1: no artist known, never capped
    cand = np.arange(6)
    assert _shelf_pool(cand, score, artist, 4, 1).tolist() == [0, 3, 4, 5]
    assert _shelf_pool(cand, score, artist, 6, 1).tolist() == [0, 3, 4, 5, 1, 2]
    assert _shelf_pool(cand, score, artist, 3, 2).tolist() == [0, 1, 3]
    assert _shelf_pool(cand, score, artist, 3, 0).tolist() == [0, 1, 2]  # no cap: by score


def test_fresh_shelves_hold_artists_the_listener_never_played() -> None:
    from types import SimpleNamespace

    import scipy.sparse as sp

    from audiotaste.recommend.shelves import build_shelves

    # genres a, b, c and one mood; tracks 0 and 2 were played (artists 0 and 1), the rest not
    genre = np.array([0, 2, 1, 1, 2, 0])
    tags = np.hstack([np.eye(3)[genre], np.ones((6, 1))]).astype(np.float32)
    cat = SimpleNamespace(
        genres=["a", "b", "c"], moods=["x"], gcols=np.arange(3), mcols=np.array([3]),
        genre_of=genre, mood_of=np.zeros(6, int), new=np.eye(6, dtype=bool)[1], new_label="new",
    )  # fmt: skip
    played = sp.csr_matrix((np.array([1.0, 0.5]), (np.zeros(2, int), np.array([0, 2]))), (1, 6))
    rec = SimpleNamespace(
        evidence_=played, plays_=played, tags_=tags, artist_code_=np.array([0, 0, 1, 1, 3, 3])
    )
    ok = np.array([False, True, False, True, True, True])

    def shelves(fresh: tuple[str, ...]) -> dict[str, list[int]]:
        out = build_shelves(cat, rec, 0, ok, [], new_artists=True, second_genres=1,
                            fresh_shelves=fresh)  # fmt: skip
        return {arm: np.flatnonzero(mask).tolist() for arm, (_, mask) in out.items()}

    got = shelves(("second_genre", "outside", "new"))
    assert got["top_genre"] == [5] and got["mood"] == [1, 3, 4, 5] and got["for_you"] == [1, 3, 4, 5]
    assert got["second_genre"] == []  # genre b's unplayed track 3 is by artist 1, whom they know
    assert got["outside"] == [4]  # track 1 is by artist 0, whom the listener has played
    assert got["new"] == [1]  # no new release by an unheard artist: the shelf keeps its track
    assert shelves(("second_genre",))["outside"] == [1, 4]  # the former default
    assert shelves(())["second_genre"] == [3]  # no fresh shelves: familiar artists stay


def test_artists_to_discover_are_worth_more_until_adopted() -> None:
    from types import SimpleNamespace

    import scipy.sparse as sp

    from audiotaste.recommend.ranker import unadopted, worth

    # artist 0: two liked tracks (adopted); artist 1: one liked (found once); artist 2: skipped;
    # artist 3: never played; track 7 has no artist
    codes = np.array([0, 0, 0, 1, 1, 2, 3, -1])
    ev = sp.csr_matrix((np.array([1.0, 0.5, 1.0, -1.0]), ([0, 0, 0, 0], [0, 1, 3, 5])), (1, 8))
    rec = SimpleNamespace(evidence_=ev, artist_code_=codes)
    assert unadopted(rec, 0).tolist() == [False, False, False, True, True, True, True, False]
    p = np.array([0.7, 0.8, 0.7, 0.5, 0.5, 0.5, 0.5, 0.5])
    logit = np.log(p / (1 - p))
    w = np.exp(worth(rec, 0, logit, 0.5))
    np.testing.assert_allclose(w, [0.7, 0.8, 0.7, 0.75, 0.75, 0.75, 0.75, 0.5])
    assert w[3] > w[0] and w[3] < w[1]  # 0.5 x 1.5 beats 0.7, not 0.8
    np.testing.assert_allclose(np.exp(worth(rec, 0, logit, 0.0))[3:], 0.5)  # value 0: p alone
