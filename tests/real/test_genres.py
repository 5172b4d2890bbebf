"""Genre-labelled real recordings (scripts/real/genres.py, the ``genre`` kind of the builder and
splits.extend_splits), on made-up metadata and tiny git repositories made here: source labels map onto
our genres, listed files the snapshot lacks are counted, and adding a genre source never moves a clip
that was already split."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

from real.genres import (  # noqa: E402
    OURS,
    SOURCE_TO_OURS,
    jamendolyrics_listing,
    listing_text,
    map_genre,
)
from real.splits import artist_names, assign_splits, extend_splits  # noqa: E402

from audiotaste.tagger.tag_head import GENRES  # noqa: E402
from tests.real.test_build import build_from, commit, drop_blob, new_repo, sm, tone, write  # noqa: E402


def test_our_genres_are_the_tag_heads():
    assert OURS == GENRES
    assert set(SOURCE_TO_OURS.values()) <= set(OURS)


@pytest.mark.parametrize(
    ("label", "ours"),
    [
        ("Hip-Hop", "hiphop"), ("hip hop", "hiphop"), ("HipHop", "hiphop"), ("RNB", "soul"),
        ("R&B", "soul"), ("Soul-RnB", "soul"), ("Metal", "rock"), ("Classical", "classical"),
        ("  Pop ", "pop"), ("Électronica", "electronic"), ("Indie", ""), ("Pop/Rock", ""),
        ("Experimental", ""), ("", ""),
    ],
)  # fmt: skip
def test_source_labels_map_onto_ours_or_nothing(label, ours):
    assert map_genre(label) == ours


def test_jamendolyrics_metadata_becomes_a_listing():
    metadata = (
        "URL,Filepath,Artist,Title,Genre,LicenseType,Language,LyricOverlap,Polyphonic,NonLexical\n"
        "https://x/2,Zed_-_Band.mp3,BAND,Zed,Metal,CC  BY-NC-SA,French,false,false,false\n"
        "https://x/1,Alpha_-_Duo.mp3,Duo,Alpha,Indie,BY-ND,English,false,false,false\n"
        "https://x/3,,Nobody,No file,Pop,BY,English,false,false,false\n"
    )
    rows = jamendolyrics_listing(metadata)
    assert rows == [
        {"path": "mp3/Alpha_-_Duo.mp3", "source_genre": "Indie", "genre": "", "artist": "Duo",
         "title": "Alpha", "licence": "CC BY-ND"},
        {"path": "mp3/Zed_-_Band.mp3", "source_genre": "Metal", "genre": "rock", "artist": "BAND",
         "title": "Zed", "licence": "CC BY-NC-SA"},
    ]  # fmt: skip
    assert listing_text(rows).splitlines()[0] == "path,source_genre,genre,artist,title,licence"


def test_new_clips_join_the_side_their_artist_already_has():
    settled = [("c1", "Band", "", "dev"), ("c2", "Other", "", "test"), ("c3", "Solo", "", "test")]
    new = [("g1", "band", ""), ("g2", "Other feat. Newcomer", ""), ("g3", "Newcomer", ""),
           ("g4", "Band & Other", ""), ("g5", "Stranger", "")]  # fmt: skip
    split = extend_splits(settled, new)
    assert split["g1"] == "dev"
    assert split["g2"] == split["g3"] == "test"  # through the collaboration, Newcomer is Other's side
    assert split["g4"] == ""  # bridges a dev and a test artist: no side keeps both on one
    # an artist no settled clip has is hashed exactly as assign_splits hashes it
    assert split["g5"] == assign_splits([("g5", "Stranger", "")])["g5"]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(["A", "B", "C", "A & B", "D"]), st.sampled_from(["dev", "test"])),
             max_size=8),
    st.lists(st.sampled_from(["A", "B", "C", "D", "E", "C feat. E", "B x F", "F"]), max_size=8),
)  # fmt: skip
def test_no_artist_on_two_sides_after_extending(settled_raw, new_raw):
    # settled clips must themselves keep each artist on one side (as assign_splits guarantees)
    side: dict[str, str] = {}
    settled = []
    for i, (artist, split) in enumerate(settled_raw):
        names = artist_names(artist)
        if any(side.get(n, split) != split for n in names):
            continue
        side.update(dict.fromkeys(names, split))
        settled.append((f"s{i}", artist, "", split))
    new = [(f"n{i}", artist, "") for i, artist in enumerate(new_raw)]
    split = extend_splits(settled, new)
    placed = [(artist, split[c]) for c, artist, _ in new if split[c]]
    for artist, s in [(a, s) for _, a, _, s in settled] + placed:
        for name in artist_names(artist):
            assert side.setdefault(name, s) == s


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_a_genre_source_is_split_by_artist_without_moving_earlier_clips(tmp_path):
    mirror, listing_dir = tmp_path / "mirror", tmp_path / "listings"
    listing_dir.mkdir()
    songs = new_repo(mirror, "songs")
    for i, artist in enumerate(["Band", "Crew", "Solo", "Duo", "Trio", "Quartet"]):
        write(songs, f"pack/S{i}/s.sm", sm("0=120", "s.wav", artist=artist))
        tone(songs / f"pack/S{i}/s.wav", 1.0)
    commit(songs)
    genre = new_repo(mirror, "genres")
    for name in ("a", "b", "c", "big"):
        tone(write(genre, f"mp3/{name}.ogg", b""), 1.0, "OGG")
    commit(genre)
    drop_blob(genre, "mp3/big.ogg")  # as fetched snapshots lack files of 4 MiB and more
    (listing_dir / "genre_g.csv").write_text(
        "path,source_genre,genre,artist,title,licence\n"
        "mp3/a.ogg,Metal,rock,Band feat. Guest,A,CC BY-SA\n"
        "mp3/b.ogg,Indie,,New Act,B,\n"
        "mp3/c.ogg,Hip-Hop,hiphop,Guest,C,CC BY\n"
        "mp3/big.ogg,Pop,pop,Big,Big,CC BY\n"
        "mp3/absent.ogg,Pop,pop,Absent,Absent,CC BY\n"
    )
    base = "songs,charts,someone/songs,,CC0,,\n"

    def run(out: Path, recipe_rows: str) -> dict[str, dict[str, str]]:
        return {r["clip_id"]: r for r in build_from(tmp_path, out, mirror, recipe_rows)}

    before = run(tmp_path / "before", base)
    after = run(tmp_path / "after", base + f"g,genre,someone/genres,,repo licence,{listing_dir / 'genre_g.csv'},\n")
    assert {c: r["split"] for c, r in after.items() if c in before} == {
        c: r["split"] for c, r in before.items()
    }
    new = {r["title"]: r for c, r in after.items() if c not in before}
    assert set(new) == {"A", "B", "C"}
    band = next(r for r in before.values() if r["artist"] == "Band")
    assert new["A"]["split"] == new["C"]["split"] == band["split"]  # Guest plays with Band
    assert new["B"]["split"] in ("dev", "test")
    assert (new["A"]["genres"], new["A"]["genre"], new["B"]["genre"]) == ("Metal", "rock", "")
    assert new["A"]["licence"] == "CC BY-SA; repo licence" and new["B"]["licence"] == "repo licence"
    assert new["A"]["tempo_bpm"] == "" and (tmp_path / "after" / new["A"]["path"]).is_file()
    skipped = (tmp_path / "after" / "skips.csv").read_text()
    assert "g,blob_missing,1" in skipped and "g,audio_not_in_snapshot,1" in skipped
