from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audiotaste.recommend.playlist import (
    build_playlist,
    camelot,
    camelot_distance,
    flow_order,
    m3u8_text,
)


def test_camelot_codes_match_the_wheel() -> None:
    # C major 8B, A minor 8A, G major 9B, E minor 9A, F major 7B, F# major 2B, D minor 7A
    num, letter = camelot(np.array([0, 9, 7, 4, 5, 6, 2]), np.array([1, 0, 1, 0, 1, 1, 0]))
    assert num.tolist() == [8, 8, 9, 9, 7, 2, 7]
    assert letter.tolist() == [1, 0, 1, 0, 1, 1, 0]
    d = camelot_distance(num, letter)
    assert d[0, 1] == 1  # relative minor
    assert d[0, 2] == 1  # a fifth up
    assert d[0, 4] == 1  # a fifth down
    assert d[0, 5] == 6  # the tritone is the far side of the wheel
    nan_num, _ = camelot(np.array([np.nan, 12, -1]), np.array([1, 1, 1]))
    assert np.isnan(nan_num).all()


def test_order_chains_a_shuffled_circle_of_fifths() -> None:
    rng = np.random.default_rng(0)
    fifths = (7 * np.arange(10)) % 12  # C G D A E B F# C# G# D#: neighbours are compatible
    keys = rng.permutation(fifths)
    order, flow, notes = flow_order(keys.astype(float), np.ones(10), None, None)
    assert sorted(order.tolist()) == list(range(10))
    assert flow["harmonic_share"] == 1.0
    assert any("tempo" in n for n in notes) and any("energy" in n for n in notes)
    order, _, notes = flow_order(None, None, None, None, n_tracks=4)
    assert order.tolist() == [0, 1, 2, 3] and len(notes) == 3


def test_order_takes_gentle_tempo_steps_and_follows_the_energy_arc() -> None:
    rng = np.random.default_rng(1)
    bpm = rng.permutation(np.arange(90.0, 150.0, 2.0))  # 30 tracks, 2 BPM apart
    _, flow, _ = flow_order(None, None, bpm, None)
    assert flow["median_tempo_step_pct"] < 3.0  # a sorted ramp steps ~1.6 %, random order ~15 %
    energy = rng.permutation(np.linspace(0, 1, 30))
    order, flow, _ = flow_order(None, None, None, energy)
    assert flow["energy_arc_r"] > 0.9
    e = energy[order]
    peak = int(np.argmax(e))
    assert 14 <= peak <= 26 and e[0] < 0.5 and e[-1] < e[peak]


def _candidates(n: int, n_artists: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "track_id": [f"t{i}" for i in range(n)],
            "score": np.sort(rng.random(n))[::-1],
            "reason": [f"reason {i}" for i in range(n)],
            "artist": [f"A{i % n_artists}" for i in range(n)],
            "title": [f"Song {i}" for i in range(n)],
            "path": [f"/music/{i}.ogg" for i in range(n)],
            "duration_s": np.full(n, 200.0),
            "key": rng.integers(0, 12, n),
            "mode": rng.integers(0, 2, n),
            "tempo_bpm": rng.uniform(80, 160, n),
            "energy": rng.random(n),
            "genre.rock": rng.random(n),
            "mood.calm": rng.random(n),
        }
    )


def test_artist_cap_one_per_artist_in_thirty() -> None:
    pl = build_playlist(_candidates(200, 80), n=30)
    assert len(pl.tracks) == 30
    assert pl.tracks["artist"].value_counts().max() == 1
    assert pl.tracks["position"].tolist() == list(range(1, 31))
    assert not pl.unmet


def test_one_artist_only_is_a_named_relaxation_not_an_error() -> None:
    pl = build_playlist(_candidates(50, 1), n=30)
    assert len(pl.tracks) == 30
    assert any(u.startswith("artist cap") for u in pl.unmet)


def test_excluded_and_small_catalogues() -> None:
    cands = _candidates(12, 12)
    pl = build_playlist(cands, n=30, exclude=["t0", "t1"])
    assert len(pl.tracks) == 10
    assert not {"t0", "t1"} & set(pl.tracks["track_id"])
    assert any("only 10 unheard" in u for u in pl.unmet)


def test_fill_by_minutes() -> None:
    pl = build_playlist(_candidates(100, 100), minutes=60)
    assert 57 <= pl.minutes <= 63
    assert len(pl.tracks) == 18


def test_mmr_spreads_over_sound() -> None:
    # 20 identical-sounding top tracks, 20 of another sound scored 0.9, 20 weak fillers.
    n = 60
    feats = np.zeros((n, 3))
    feats[:20, 0] = feats[20:40, 1] = feats[40:, 2] = 1
    score = np.r_[np.full(20, 1.0), np.full(20, 0.9), np.zeros(20)]
    cands = pd.DataFrame({"track_id": [f"t{i}" for i in range(n)], "score": score})
    plain = build_playlist(cands, n=10, diversity=0.0, features=feats)
    mixed = build_playlist(cands, n=10, diversity=0.5, features=feats)
    ids = lambda pl: pl.tracks["track_id"].str[1:].astype(int)  # noqa: E731
    assert len(plain.tracks) == len(mixed.tracks) == 10
    assert ids(plain).lt(20).all()
    # MMR with lambda 0.5: A (0.5), then B (0.45 > 0), then A again (0 > -0.05): one B only.
    assert ids(mixed).between(20, 39).sum() == 1 and ids(mixed).lt(40).all()
    # features stay aligned with their rows when candidates are excluded and shuffled
    shuffled = cands.sample(frac=1, random_state=0)
    again = build_playlist(
        shuffled, n=10, diversity=0.5, features=feats[shuffled.index], exclude=["t0", "t1"]
    )
    assert ids(again).between(20, 39).sum() == 1 and ids(again).lt(40).all()
    assert "_row" not in again.tracks


def test_missing_key_and_tempo_are_named() -> None:
    cands = _candidates(40, 40).drop(columns=["key", "mode", "tempo_bpm"])
    pl = build_playlist(cands, n=20)
    assert len(pl.tracks) == 20
    assert any(u.startswith("key: unknown for every track") for u in pl.unmet)
    assert any(u.startswith("tempo: unknown for every track") for u in pl.unmet)
    partly = _candidates(40, 40)
    partly.loc[:, "tempo_bpm"] = np.nan
    partly.loc[::2, "key"] = np.nan
    pl = build_playlist(partly, n=40)
    assert any(u.startswith("key: unknown for 20 of 40") for u in pl.unmet)


def test_m3u8_and_json_writers(tmp_path) -> None:
    frame = pd.DataFrame(
        {
            "position": [1, 2],
            "track_id": ["a", "b"],
            "artist": ["Nina Simone", None],
            "title": ["Sinnerman", "Untitled\nDemo"],
            "path": ["/m/sinnerman.flac", None],
            "duration_s": [622.4, np.nan],
            "reason": ["because you like jazz", "new"],
        }
    )
    assert m3u8_text(frame) == (
        "#EXTM3U\n#EXTINF:622,Nina Simone - Sinnerman\n/m/sinnerman.flac\n#EXTINF:-1,Untitled Demo\nb\n"
    )
    pl = build_playlist(_candidates(40, 40), n=5)
    pl.to_m3u8(tmp_path / "w.m3u8")
    pl.to_json(tmp_path / "w.json")
    lines = (tmp_path / "w.m3u8").read_text(encoding="utf-8").splitlines()
    assert lines[0] == "#EXTM3U" and len(lines) == 11 and lines[1].startswith("#EXTINF:200,A")
    doc = json.loads((tmp_path / "w.json").read_text(encoding="utf-8"))
    assert doc["n_tracks"] == 5 and doc["unmet"] == []
    assert [t["position"] for t in doc["tracks"]] == [1, 2, 3, 4, 5]
    assert all(t["reason"].startswith("reason ") for t in doc["tracks"])


_OPTIONAL = ("artist", "duration_s", "key", "mode", "tempo_bpm", "energy", "genre.rock")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.integers(0, 40),
    want=st.integers(0, 35),
    drop=st.sets(st.sampled_from(_OPTIONAL)),
    holes=st.floats(0, 1),
    n_artists=st.integers(1, 5),
    seed=st.integers(0, 1000),
)
def test_never_raises_on_thin_or_holey_input(n, want, drop, holes, n_artists, seed) -> None:
    cands = _candidates(n, n_artists, seed).drop(columns=list(drop))
    rng = np.random.default_rng(seed)
    for c in ("duration_s", "key", "tempo_bpm", "energy", "score"):
        if c in cands:
            cands.loc[rng.random(n) < holes, c] = np.nan
    excluded = [f"t{i}" for i in range(0, n, 3)]
    pl = build_playlist(cands, n=want, exclude=excluded)
    ids = pl.tracks["track_id"].tolist()
    assert len(ids) == len(set(ids)) == min(want, n - len(excluded))
    assert not set(ids) & set(excluded)


def test_bad_candidates_frame_is_an_input_error() -> None:
    from audiotaste.errors import InputError

    with pytest.raises(InputError, match="track_id"):
        build_playlist(pd.DataFrame({"id": [1]}))
