"""The real-corpus builder (scripts/real/build.py) on tiny git repositories and a tiny .deb made here:
every bad blob is skipped and counted by reason, reserved 4Q clips are never touched, reruns are
idempotent, and a failing run never leaves a half-written manifest."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

from real import build, listed, sources  # noqa: E402
from real.manifest import COLUMNS, SkipCounter, read_manifest  # noqa: E402
from real.splits import artist_names  # noqa: E402

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
SR = 8000


def tone(path: Path, seconds: float, fmt: str = "WAV") -> None:
    t = np.arange(int(seconds * SR)) / SR
    sf.write(path, 0.3 * np.sin(2 * np.pi * 440 * t), SR, format=fmt)


def sm(bpm: str, music: str, offset: str = "-0.5", artist: str = "Band") -> str:
    return f"#TITLE:T;\n#ARTIST:{artist};\n#MUSIC:{music};\n#OFFSET:{offset};\n#BPMS:{bpm};\n"


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false", *args],
        cwd=repo, capture_output=True, check=True, text=True,
    )  # fmt: skip
    return done.stdout.strip()


def write(repo: Path, rel: str, data: bytes | str) -> Path:
    path = repo / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    path.write_bytes(data)
    return path


def drop_blob(repo: Path, rel: str) -> None:
    """Make the snapshot lack a blob, as fetched snapshots lack files of 4 MiB and more."""
    sha = git(repo, "rev-parse", f"HEAD:{rel}")
    (repo / ".git" / "objects" / sha[:2] / sha[2:]).unlink()


def new_repo(mirror: Path, name: str) -> Path:
    """An empty git repository where the mirror keeps ``someone/<name>``."""
    repo = mirror / f"someone+{name}"
    repo.mkdir(parents=True)
    git(repo, "init", "-q")
    return repo


def commit(repo: Path) -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "files")


def tone_repo(mirror: Path, name: str, stems: tuple[str, ...]) -> Path:
    """A committed repository ``someone/<name>`` holding ``music/<stem>.ogg``: 1.5-s tones."""
    repo = new_repo(mirror, name)
    for stem in stems:
        tone(write(repo, f"music/{stem}.ogg", b""), 1.5, "OGG")
    commit(repo)
    return repo


def build_from(tmp_path: Path, out: Path, mirror: Path, recipe_rows: str) -> list[dict[str, str]]:
    """Run the build on ``recipe_rows`` (``sources.csv`` rows, no header) and no 4Q clips; the manifest."""
    recipe = tmp_path / "sources.csv"
    recipe.write_text("source,kind,origin,version,licence,include,inner\n" + recipe_rows)
    fourq = tmp_path / "4q_dev.csv"
    fourq.write_text("mirror_path,quadrant,valence,arousal,artist,title,genres\n")
    assert build.main(["--out", str(out), "--mirror", str(mirror), "--debs", str(tmp_path),
                       "--sources", str(recipe), "--fourq-listing", str(fourq)]) == 0
    return read_manifest(out / "manifest.csv")


@pytest.fixture()
def world(tmp_path: Path) -> dict[str, Path]:
    mirror, out, debs = tmp_path / "mirror", tmp_path / "out", tmp_path / "debs"
    debs.mkdir()
    songs = mirror / "someone+songs"
    songs.mkdir(parents=True)
    git(songs, "init", "-q")
    write(songs, "pack/Good/good.sm", sm("0.000=120.000", "good.wav"))
    tone(songs / "pack/Good/good.wav", 4.0)
    write(
        songs, "pack/Good/copy.ssc", "#VERSION:0.83;\n" + sm("0=120", "good.wav")
    )  # same audio again
    write(songs, "pack/Lfs/lfs.sm", sm("0=100", "lfs.ogg"))
    write(
        songs,
        "pack/Lfs/lfs.ogg",
        "version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 123\n",
    )
    write(songs, "pack/Empty/empty.sm", sm("0=100", "empty.ogg"))
    write(songs, "pack/Empty/empty.ogg", b"")
    write(songs, "pack/Noise/noise.sm", sm("0=100", "noise.mp3"))
    write(songs, "pack/Noise/noise.mp3", b"this is not audio at all" * 50)
    write(songs, "pack/Changes/changes.sm", sm("0=100,16=150", "changes.wav"))
    tone(songs / "pack/Changes/changes.wav", 1.0)
    write(songs, "pack/Garbage/garbage.sm", "#BPMS:0=fast;")
    write(songs, "pack/Big/big.sm", sm("0=90", "big.wav", artist="Other"))
    tone(songs / "pack/Big/big.wav", 1.0)
    write(songs, "pack/Nowhere/nowhere.sm", sm("0=90", "missing.ogg"))
    write(
        songs,
        "pack/Gone/gone.tja",
        "TITLE:Gone\nSUBTITLE:--Drummer\nBPM:140\nWAVE:gone.ogg\nOFFSET:0.1\n#START\n1,\n#END\n",
    )
    tone(songs / "pack/Gone/gone.ogg", 2.0, "OGG")
    tone(write(songs, "wip/[2015] Moved/moved.wav", b""), 3.0)
    git(songs, "add", "-A")
    git(songs, "commit", "-qm", "songs")
    git(songs, "rm", "-q", "pack/Gone/gone.ogg")  # deleted later: the builder reads it from history
    git(
        songs, "rm", "-q", "wip/[2015] Moved/moved.wav"
    )  # the song folder moved, its audio was lost
    write(
        songs,
        "done/[2015] Moved/moved.sm",
        sm("0=150", "moved.wav").replace("#TITLE:T", "#TITLE:Moved"),
    )
    git(songs, "add", "-A")
    git(songs, "commit", "-qm", "drop audio")
    drop_blob(songs, "pack/Big/big.wav")

    fourq = mirror / "someone+fourq"
    fourq.mkdir(parents=True)
    git(fourq, "init", "-q")
    for name in ("Q1/a.wav", "Q2/b.wav", "Q3/reserved.wav"):
        tone(write(fourq, f"Dataset/{name}", b""), 1.0)
    git(fourq, "add", "-A")
    git(fourq, "commit", "-qm", "clips")
    listing = tmp_path / "4q_dev.csv"
    listing.write_text(
        "mirror_path,quadrant,valence,arousal,artist,title,genres\n"
        "Dataset/Q1/a.wav,Q1,1,1,Singer A,Song A,Pop/Rock;Folk\n"
        "Dataset/Q2/b.wav,Q2,-1,1,Singer B,Song B,Electronic\n"
        "Musics/other.wav,Q2,-1,1,Singer C,Song C,Jazz\n"
    )
    recipe = tmp_path / "sources.csv"
    recipe.write_text(
        "source,kind,origin,version,licence,include,inner\n"
        "songs,charts,someone/songs,,CC0,,\n"
        "absent,charts,someone/absent,,CC0,,\n"
        "q,4q,someone/fourq,,preview,,\n"
        "deb-music,deb,music-data,1.0-1,GPL-2+,usr/share/games/m/music/*,\n"
    )
    return {
        "mirror": mirror,
        "out": out,
        "debs": debs,
        "recipe": recipe,
        "listing": listing,
        "songs": songs,
    }


def run(world: dict[str, Path]) -> int:
    return build.main(
        ["--out", str(world["out"]), "--mirror", str(world["mirror"]), "--debs", str(world["debs"]),
         "--sources", str(world["recipe"]), "--fourq-listing", str(world["listing"])]
    )  # fmt: skip


def skips(out: Path) -> dict[tuple[str, str], int]:
    with open(out / "skips.csv", newline="") as handle:
        return {(r["source"], r["reason"]): int(r["count"]) for r in csv.DictReader(handle)}


def test_manifest_rows_labels_and_skip_counts(world):
    assert run(world) == 0
    out = world["out"]
    assert (out / "manifest.csv").read_text().splitlines()[0] == ",".join(COLUMNS)
    rows = {r["title"]: r for r in read_manifest(out / "manifest.csv")}
    assert set(rows) == {"T", "Gone", "Moved", "Song A", "Song B"}
    assert (
        rows["Moved"]["tempo_bpm"] == "150"
        and "wip/[2015] Moved/moved.wav" in rows["Moved"]["path"]
    )
    good = rows["T"]
    assert (good["tempo_bpm"], good["first_beat_s"], good["source"], good["artist"]) == (
        "120",
        "0.5000",
        "songs",
        "Band",
    )
    assert float(good["duration_s"]) == pytest.approx(4.0)
    assert (out / good["path"]).is_file() and not Path(good["path"]).is_absolute()
    gone = rows[
        "Gone"
    ]  # OFFSET 0.1 at 140 BPM: first beat 60/140 - 0.1 s, audio from the older commit
    assert float(gone["first_beat_s"]) == pytest.approx(60 / 140 - 0.1, abs=1e-4)
    assert (gone["artist"], gone["meter"]) == ("Drummer", "4/4")
    assert gone["source_commit"].endswith("^") and (out / gone["path"]).is_file()
    assert {rows["Song A"]["split"], rows["Song B"]["split"]} == {"dev"}
    assert {rows["Song A"]["subsplit"], rows["Song B"]["subsplit"]} <= {"dev", "devtest"}
    assert rows["Song A"]["genres"] == "Pop/Rock;Folk" and rows["Song A"]["quadrant"] == "Q1"
    assert {good["split"], gone["split"]} <= {"dev", "test"}
    assert skips(out) == {
        ("songs", "duplicate_chart_same_audio"): 1,
        ("songs", "blob_lfs_pointer"): 1,
        ("songs", "blob_empty"): 1,
        ("songs", "audio_undecodable"): 1,
        ("songs", "chart_tempo_changes"): 1,
        ("songs", "chart_unparseable"): 1,
        ("songs", "blob_missing"): 1,
        ("songs", "audio_not_in_snapshot"): 1,
        ("absent", "snapshot_not_fetched"): 1,
        ("q", "listing_path_outside_dataset"): 1,
        ("deb-music", "package_not_downloaded"): 1,
    }
    # the reserved half of 4Q is never extracted, and nothing but audio we use is left behind
    assert not list(out.rglob("reserved.wav"))
    assert not [p for p in out.rglob("*") if p.name.startswith(".") and p.name != ".extracted-from"]


def test_rerun_is_idempotent_and_does_not_rewrite_audio(world):
    run(world)
    out = world["out"]
    manifest = (out / "manifest.csv").read_bytes()
    audio = next(p for p in (out / "audio" / "songs").rglob("good.wav"))
    before = audio.stat().st_mtime_ns
    os.utime(audio, ns=(before - 10**9, before - 10**9))
    run(world)
    assert (out / "manifest.csv").read_bytes() == manifest
    assert audio.stat().st_mtime_ns == before - 10**9


def test_a_failing_run_leaves_the_old_manifest_whole(world, monkeypatch):
    run(world)
    manifest = (world["out"] / "manifest.csv").read_bytes()

    def boom(*args, **kwargs):
        raise RuntimeError("killed half-way")

    monkeypatch.setattr(build, "build_fourq", boom)
    with pytest.raises(RuntimeError):
        run(world)
    assert (world["out"] / "manifest.csv").read_bytes() == manifest
    assert not [p for p in world["out"].iterdir() if p.name.startswith(".")]


@pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="needs dpkg-deb")
def test_debian_music_is_unlabelled_and_short_or_synthetic_files_are_skipped(world, tmp_path):
    package = tmp_path / "pkg"
    music = package / "usr/share/games/m/music"
    music.mkdir(parents=True)
    tone(music / "theme.ogg", 31.0, "OGG")
    shutil.copy(music / "theme.ogg", music / "theme-copy.ogg")
    tone(music / "jingle.ogg", 5.0, "OGG")
    (music / "song.xm").write_bytes(b"Extended Module: fake")
    tone(package / "usr/share/games/m/click.wav", 40.0)  # outside the include glob: not music
    (package / "DEBIAN").mkdir()
    (package / "DEBIAN/control").write_text(
        "Package: music-data\nVersion: 1.0-1\nArchitecture: all\nMaintainer: t <t@t>\nDescription: test\n"
    )
    subprocess.run(
        [
            "dpkg-deb",
            "--build",
            "-Zgzip",
            str(package),
            str(world["debs"] / "music-data_1.0-1_all.deb"),
        ],
        check=True,
        capture_output=True,
    )
    run(world)
    rows = [r for r in read_manifest(world["out"] / "manifest.csv") if r["source"] == "deb-music"]
    assert [(r["title"][:5], r["split"], r["tempo_bpm"]) for r in rows] == [
        ("theme", "unlabelled", "")
    ]
    assert rows[0]["source_commit"] == "music-data=1.0-1"
    counts = skips(world["out"])
    assert counts[("deb-music", "unlabelled_shorter_than_30s")] == 1
    assert counts[("deb-music", "tracker_module_synthetic")] == 1
    assert counts[("deb-music", "duplicate_file")] == 1
    assert not list(world["out"].rglob("click.wav"))
    assert ("deb-music", "recipe_version_absent_used_other") not in counts
    # the recipe names a version that is not downloaded: the one there is used, and counted
    world["recipe"].write_text(world["recipe"].read_text().replace(",1.0-1,", ",2.0-1,"))
    run(world)
    assert skips(world["out"])[("deb-music", "recipe_version_absent_used_other")] == 1
    assert (
        len([r for r in read_manifest(world["out"] / "manifest.csv") if r["source"] == "deb-music"])
        == 1
    )


def test_safe_relpath_never_leaves_the_corpus():
    assert sources.safe_relpath("../../etc/passwd") == "etc/passwd"
    assert sources.safe_relpath("/a/./b:c") == "a/b_c"


def test_charts_whose_audio_lies_apart_are_paired_by_the_inner_template(tmp_path):
    # taiko-web keeps songs/<id>/main.tja apart from assets/<id>.ogg
    mirror, out = tmp_path / "mirror", tmp_path / "out"
    site = new_repo(mirror, "site")
    for song_id, bpm in (("7", 150), ("8", 120)):
        write(site, f"songs/{song_id}/main.tja",
              f"TITLE:S{song_id}\nSUBTITLE:--Artist {song_id}\nBPM:{bpm}\nOFFSET:-0.2\n#START\n1,\n#END\n")
    tone(write(site, "assets/7.ogg", b""), 2.0, "OGG")  # song 8 has no audio anywhere
    commit(site)
    rows = build_from(tmp_path, out, mirror, "site,charts,someone/site,,CC0,songs/*,assets/{folder}.ogg\n")
    assert [(r["title"], r["tempo_bpm"], r["path"]) for r in rows] == [("S7", "150", "audio/site/assets/7.ogg")]
    assert skips(out)[("site", "audio_not_in_snapshot")] == 1


def test_keyed_recordings_carry_their_key_and_are_test_only(tmp_path):
    mirror, out = tmp_path / "mirror", tmp_path / "out"
    repo = new_repo(mirror, "piano")
    tone(write(repo, "audio/p1.ogg", b""), 2.0, "OGG")
    commit(repo)
    listing = tmp_path / "keyed.csv"
    listing.write_text("path,key,mode,artist,title\n"
                       "audio/p1.ogg,C#,minor,Pianist,Fugue in C-sharp minor\n"
                       "audio/absent.ogg,D,major,Pianist,Prelude in D major\n")
    rows = build_from(tmp_path, out, mirror, f"piano,keyed,someone/piano,,CC0,{listing},\n")
    assert [(r["key"], r["mode"], r["split"], r["tempo_bpm"]) for r in rows] == [("C#", "minor", "test", "")]
    assert skips(out)[("piano", "audio_not_in_snapshot")] == 1


def test_keyed_rows_carry_their_own_licence_and_bad_labels_are_skipped(tmp_path):
    mirror, out = tmp_path / "mirror", tmp_path / "out"
    tone_repo(mirror, "strings", ("suite", "sonata", "flat", "modal"))
    listing = tmp_path / "keyed_strings.csv"
    listing.write_text("path,key,mode,artist,title,licence\n"
                       "music/suite.ogg,G,major,Cellist,Suite No. 1 in G major: Prelude,CC-BY-SA-3.0\n"
                       "music/sonata.ogg,A#,minor,Pianist,Sonata in B-flat minor: I,\n"
                       "music/flat.ogg,Eb,major,Pianist,Nocturne in E-flat major,CC0-1.0\n"
                       "music/modal.ogg,D,dorian,Pianist,Toccata in D dorian,CC0-1.0\n")
    recipe_row = f"strings,keyed,someone/strings,,compositions public domain,{listing},\n"
    rows = {r["path"]: r for r in build_from(tmp_path, out, mirror, recipe_row)}
    assert sorted(rows) == ["audio/strings/music/sonata.ogg", "audio/strings/music/suite.ogg"]
    suite, sonata = rows["audio/strings/music/suite.ogg"], rows["audio/strings/music/sonata.ogg"]
    assert suite["licence"] == "CC-BY-SA-3.0; compositions public domain"
    assert sonata["licence"] == "compositions public domain"  # no licence of its own: the source's
    assert (suite["key"], suite["mode"], suite["split"]) == ("G", "major", "test")
    assert (sonata["key"], sonata["mode"], sonata["split"]) == ("A#", "minor", "test")
    assert skips(out)[("strings", "key_label_invalid")] == 2
    assert not (out / "audio/strings/music/flat.ogg").exists()


def test_a_keyed_listing_may_pin_rows_to_dev_and_rows_naming_no_split_stay_test(tmp_path):
    mirror, out = tmp_path / "mirror", tmp_path / "out"
    tone_repo(mirror, "mixed", ("old", "new", "blank", "odd"))
    listing = tmp_path / "keyed_mixed.csv"
    listing.write_text("path,key,mode,artist,title,split\n"
                       "music/old.ogg,C,major,Pianist,Prelude in C major,test\n"
                       "music/new.ogg,E,minor,Guitarist,Study in E minor,dev\n"
                       "music/blank.ogg,G,major,Violinist,Sonata in G major: I,\n"
                       "music/odd.ogg,F,major,Organist,Fugue in F major,train\n")
    rows = {r["path"]: r for r in build_from(tmp_path, out, mirror, f"mixed,keyed,someone/mixed,,CC0,{listing},\n")}
    assert {p: r["split"] for p, r in rows.items()} == {
        "audio/mixed/music/old.ogg": "test",
        "audio/mixed/music/new.ogg": "dev",
        "audio/mixed/music/blank.ogg": "test",
    }
    assert rows["audio/mixed/music/new.ogg"]["key"] == "E"
    assert skips(out)[("mixed", "keyed_split_invalid")] == 1
    assert not (out / "audio/mixed/music/odd.ogg").exists()


def test_a_dev_keyed_artist_pulls_a_genre_artist_of_the_same_name_to_dev(tmp_path):
    mirror, out = tmp_path / "mirror", tmp_path / "out"
    tone_repo(mirror, "both", ("keyed", "song"))
    keyed = tmp_path / "keyed_both.csv"
    keyed.write_text("path,key,mode,artist,title,split\nmusic/keyed.ogg,A,minor,Trio X,Trio in A minor: I,dev\n")
    genre = tmp_path / "genre_both.csv"
    genre.write_text("path,source_genre,genre,artist,title,licence\nmusic/song.ogg,Pop,pop,Trio X,Song,CC0\n")
    recipe = (f"k,keyed,someone/both,,CC0,{keyed},\n"
              f"g,genre,someone/both,,CC0,{genre},\n")
    rows = {r["source"]: r["split"] for r in build_from(tmp_path, out, mirror, recipe)}
    assert rows == {"k": "dev", "g": "dev"}


def test_key_label_problem_names_sharps_and_two_modes_only():
    assert listed.key_label_problem("F#", "minor") is None
    assert listed.key_label_problem("C", "major") is None
    assert listed.key_label_problem("Gb", "major") is not None  # flats are written as sharps
    assert listed.key_label_problem("c", "major") is not None
    assert listed.key_label_problem("C", "Major") is not None
    assert listed.key_label_problem("", "") is not None


def test_committed_keyed_listings_have_valid_labels_and_unique_paths():
    recipe = sources.read_sources(Path(build.HERE) / "sources.csv")
    keyed = [s for s in recipe if s.kind == "keyed"]
    assert keyed, "no keyed source in the recipe"
    names = [s.source for s in keyed]
    assert len(names) == len(set(names))
    for source in keyed:
        with open(Path(build.HERE) / source.include, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        assert rows, source.source
        paths = [item["path"] for item in rows]
        assert len(paths) == len(set(paths)), source.source
        for item in rows:
            problem = listed.key_label_problem(item["key"], item["mode"])
            assert problem is None, (source.source, item["path"], problem)
            assert item["title"].strip() and item["artist"].strip(), (source.source, item)
            assert (item.get("split") or "test") in listed.KEYED_SPLITS, (source.source, item)


def test_committed_keyed_sources_keep_the_first_fifteen_in_test_and_share_no_file_across_splits():
    recipe = sources.read_sources(Path(build.HERE) / "sources.csv")
    split_of: dict[tuple[str, str], set[str]] = {}
    for source in (s for s in recipe if s.kind == "keyed"):
        with open(Path(build.HERE) / source.include, newline="", encoding="utf-8") as handle:
            for item in csv.DictReader(handle):
                split = item.get("split") or "test"
                split_of.setdefault((source.origin, item["path"]), set()).add(split)
                if source.source in ("wtc-ishizaka", "goldberg-ishizaka", "soulradio-commons"):
                    assert split == "test", (source.source, item["path"])
    assert all(len(splits) == 1 for splits in split_of.values())
    assert "dev" in set().union(*split_of.values()), "no keyed dev recording in the recipe"


def test_a_song_already_in_an_earlier_source_is_skipped_in_the_later_one(tmp_path):
    # the same song must not be in two sources (it could land on both sides of the split)
    mirror, out = tmp_path / "mirror", tmp_path / "out"
    first, second = new_repo(mirror, "first"), new_repo(mirror, "second")
    tone(write(first, "A/a.wav", b""), 2.0)
    write(first, "A/a.sm", sm("0=120", "a.wav", artist="Kawai & Friend").replace("#TITLE:T", "#TITLE:Fresh!"))
    tone(write(first, "B/b.wav", b""), 3.0)
    write(first, "B/b.sm", sm("0=100", "b.wav", artist="Solo").replace("#TITLE:T", "#TITLE:Blue"))
    write(first, "B2/b.sm", sm("0=100", "b.wav", artist="Solo").replace("#TITLE:T", "#TITLE:Blue"))
    tone(write(first, "B2/b.wav", b""), 3.0)  # same blob in another folder: the source's own repeat
    commit(first)
    (second / "B").mkdir()
    shutil.copy(first / "B/b.wav", second / "B/b.wav")  # byte-identical: the same blob
    write(second, "B/b.sm", sm("0=100", "b.wav", artist="Someone Else").replace("#TITLE:T", "#TITLE:Other"))
    tone(write(second, "F/f.wav", b""), 2.5)  # other audio, same song: a shared artist name
    write(second, "F/f.sm", sm("0=120", "f.wav", artist="friend").replace("#TITLE:T", "#TITLE:FRESH"))
    tone(write(second, "G/g.wav", b""), 2.6)  # same title, no artist credit
    write(second, "G/g.sm", sm("0=99", "g.wav", artist="").replace("#TITLE:T", "#TITLE:blue"))
    tone(write(second, "H/h.wav", b""), 2.7)  # same title, other artist: another song
    write(second, "H/h.sm", sm("0=98", "h.wav", artist="Stranger").replace("#TITLE:T", "#TITLE:Blue"))
    tone(write(second, "N/1.wav", b""), 2.8)  # taiko-web folder ids are no titles
    write(second, "N/n.sm", sm("0=97", "1.wav", artist="").replace("#TITLE:T", "#TITLE:1"))
    tone(write(first, "N/1.wav", b""), 2.9)
    write(first, "N/n.sm", sm("0=96", "1.wav", artist="").replace("#TITLE:T", "#TITLE:1"))
    commit(first)
    commit(second)
    rows = build_from(tmp_path, out, mirror, "first,charts,someone/first,,CC0,,\nsecond,charts,someone/second,,CC0,,\n")
    kept = sorted((r["source"], r["title"]) for r in rows)
    assert kept == [("first", "1"), ("first", "Blue"), ("first", "Fresh!"), ("second", "1"), ("second", "Blue")]
    assert skips(out)[("first", "duplicate_chart_same_audio")] == 1  # its own repeat, as before
    assert skips(out)[("second", "duplicate_audio_other_source")] == 1
    assert skips(out)[("second", "duplicate_song_other_source")] == 2
    assert "_audio_sha" not in (out / "manifest.csv").read_text()


def _chart_row(source: int, sha: int, title: str, artist: str) -> dict[str, object]:
    return {"source": f"s{source}", "tempo_bpm": "120", "path": f"p{source}-{sha}", "title": title,
            "artist": artist, "_audio_sha": f"{sha:040d}"}  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 3), st.integers(0, 6), st.sampled_from(["Blue", "blue!", "Red", "7", ""]),
            st.sampled_from(["", "A", "a & B", "C", "b"]),
        ),
        max_size=30,
    )
)
def test_no_song_in_two_sources_and_the_first_source_keeps_everything(items):
    rows = [_chart_row(*item) for item in sorted(items, key=lambda item: item[0])]  # recipe order
    rows.insert(0, {"source": "deb", "path": "x"})  # not a chart: passes untouched
    counter = SkipCounter()
    kept = sources.drop_songs_of_earlier_sources(rows, counter)
    assert kept[0] == {"source": "deb", "path": "x"}
    charts = kept[1:]
    first = [r for r in rows[1:] if r["source"] == "s0"]
    assert [r for r in charts if r["source"] == "s0"] == first
    assert sum(counter.counts.values()) == len(rows) - len(kept)
    assert [r for r in rows if any(r is k for k in kept)] == kept  # whole rows, in order
    for i, a in enumerate(charts):
        for b in charts[:i]:
            if a["source"] == b["source"]:
                continue
            assert a["_audio_sha"] != b["_audio_sha"]
            title = sources.song_title(str(a["title"]))
            if title and title == sources.song_title(str(b["title"])):
                names_a, names_b = artist_names(str(a["artist"])), artist_names(str(b["artist"]))
                assert names_a and names_b and not names_a & names_b


def test_clone_hero_songs_use_song_of_any_suffix_and_skip_stem_splits(tmp_path):
    mirror, out = tmp_path / "mirror", tmp_path / "out"
    repo = new_repo(mirror, "hero")
    chart = '[Song]\n{\n  Name = "N{i}"\n  Artist = "A{i}"\n  Resolution = 192\n}\n[SyncTrack]\n{\n  0 = B 150000\n}\n'
    write(repo, "One/notes.chart", chart.replace("{i}", "1"))
    tone(write(repo, "One/song.wav", b""), 2.0)  # no MusicStream: Clone Hero reads song.*
    tone(write(repo, "One/preview.ogg", b""), 0.5, "OGG")
    write(repo, "Two/notes.chart", chart.replace("{i}", "2"))
    tone(write(repo, "Two/song.wav", b""), 2.1)
    tone(write(repo, "Two/guitar.ogg", b""), 2.1, "OGG")  # stems: song.* is the backing track only
    write(repo, "Three/notes.chart", chart.replace("{i}", "3"))
    tone(write(repo, "Three/preview.ogg", b""), 0.7, "OGG")  # song.ogg absent: a preview is no stand-in
    write(repo, "Four/notes.chart", chart.replace("{i}", "4").replace(
        "  Resolution", '  MusicStream = "C:\\Users\\me\\Desktop\\Official Audio.ogg"\n  Resolution'))
    tone(write(repo, "Four/song.ogg", b""), 2.2, "OGG")  # a charter's own path: song.* is the audio
    commit(repo)
    rows = build_from(tmp_path, out, mirror, "hero,charts,someone/hero,,CC0,,\n")
    assert [(r["title"], r["artist"], r["tempo_bpm"], r["path"]) for r in rows] == [
        ("N1", "A1", "150", "audio/hero/One/song.wav"), ("N4", "A4", "150", "audio/hero/Four/song.ogg")
    ]
    assert skips(out)[("hero", "audio_split_into_stems")] == 1
    assert skips(out)[("hero", "audio_not_in_snapshot")] == 1


def test_friday_night_funkin_charts_are_read_only_where_the_recipe_names_json(tmp_path):
    mirror, out = tmp_path / "mirror", tmp_path / "out"
    mod = new_repo(mirror, "mod")
    for song, bpm in (("fresh", 120), ("blammed", 165)):
        for name in (f"{song}-easy", song):  # difficulties share the instrumental
            write(mod, f"assets/data/{song}/{name}.json", f'{{"song": {{"song": "{song.title()}", "bpm": {bpm}, "notes": []}}}}')
        tone(write(mod, f"assets/songs/{song}/Inst.ogg", b""), 2.0 + bpm / 1000, "OGG")
        tone(write(mod, f"assets/songs/{song}/Voices.ogg", b""), 2.0, "OGG")
    write(mod, "assets/data/fresh/events.json", '{"song": {"events": []}}')  # not a chart
    write(mod, "assets/data/offsettest/offsettest.json", '{"song": {"song": "Offsettest", "bpm": 100, "notes": []}}')
    tone(write(mod, "assets/songs/offsettest/Inst.ogg", b""), 2.5, "OGG")  # a click track, not music
    commit(mod)
    rows = build_from(tmp_path, out, mirror,
                      "mod,charts,someone/mod,,CC0,assets/data/*.json,assets/songs/{folder}/Inst.ogg\n"
                      "plain,charts,someone/mod,,CC0,,assets/songs/{folder}/Inst.ogg\n")  # fmt: skip
    assert sorted((r["source"], r["title"], r["tempo_bpm"], r["first_beat_s"]) for r in rows) == [
        ("mod", "Blammed", "165", "0.0000"), ("mod", "Fresh", "120", "0.0000")
    ]
    assert len({r["split"] for r in rows}) == 1  # no artist credit: the whole mod is one group
    assert skips(out)[("mod", "duplicate_chart_same_audio")] == 2
    assert skips(out)[("mod", "chart_unparseable")] == 1
    assert skips(out)[("mod", "calibration_track")] == 1
    assert not any(source == "plain" for source, _ in skips(out))  # .json unread without the opt-in


def test_the_inner_template_may_climb_from_the_chart_folder(tmp_path):
    # a Friday Night Funkin' mod collection: <mod>/data/<song>/<song>.json beside <mod>/songs/<song>/Inst.ogg
    mirror, out = tmp_path / "mirror", tmp_path / "out"
    pack = new_repo(mirror, "pack")
    write(pack, "Mod A/data/ballad/ballad.json", '{"song": {"song": "Ballad", "bpm": 90, "notes": []}}')
    tone(write(pack, "Mod A/songs/ballad/Inst.ogg", b""), 2.0, "OGG")
    write(pack, "Mod B/data/ballad/ballad.json", '{"song": {"song": "Ballad B", "bpm": 91, "notes": []}}')  # no audio
    write(pack, "Mod C/data/ballad-2/ballad-2.json", '{"song": {"song": "BALLAD", "bpm": 90, "notes": []}}')
    tone(write(pack, "Mod C/songs/ballad-2/Inst.ogg", b""), 2.4, "OGG")  # the same song again, in another mod
    write(pack, "Mod A/data/ballad-old/ballad-old.json", '{"song": {"song": "Ballad (Legacy Mix) old", "bpm": 90, "notes": []}}')
    tone(write(pack, "Mod A/songs/ballad-old/Inst.ogg", b""), 2.6, "OGG")  # the mod's older version of it
    write(pack, "Mod D/data/ballad/ballad-hard.json", '{"song": {"bpm": 90, "notes": []}}')  # untitled: its folder
    tone(write(pack, "Mod D/songs/ballad/Inst.ogg", b""), 2.8, "OGG")
    write(pack, "assets/preload/data/solo/solo.json", '{"song": {"song": "Solo", "bpm": 80, "notes": []}}')
    tone(write(pack, "assets/songs/solo/Inst.ogg", b""), 2.2, "OGG")  # the base game's layout, one level deeper
    commit(pack)
    rows = build_from(tmp_path, out, mirror, "pack,charts,someone/pack,,CC0,*/data/*.json,"
                      "{dir}/../../songs/{folder}/Inst.ogg|{dir}/../../../songs/{folder}/Inst.ogg\n")  # fmt: skip
    assert sorted((r["title"], r["path"]) for r in rows) == [
        ("Ballad", "audio/pack/Mod A/songs/ballad/Inst.ogg"), ("Solo", "audio/pack/assets/songs/solo/Inst.ogg")
    ]
    assert skips(out)[("pack", "audio_not_in_snapshot")] == 1
    assert skips(out)[("pack", "duplicate_song_same_source")] == 3
