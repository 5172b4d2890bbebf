"""The corpus generator (scripts/make_corpus.py): determinism, labels in the MIDI, crash safety,
and clear messages for a missing tool, SoundFont or disk space."""

from __future__ import annotations

import csv
import hashlib
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

mido = pytest.importorskip("mido")  # the generator's MIDI library (a dev dependency)
SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
sys.path.insert(0, str(SCRIPTS))

import make_corpus  # noqa: E402

from corpus import render  # noqa: E402
from corpus.compose import PPQ, chord_timeline, compose, write_melody  # noqa: E402
from corpus.manifest import COLUMNS, Manifest  # noqa: E402
from corpus.plan import (  # noqa: E402
    BLUE_GENRES,
    FAST_BPM,
    FAST_GENRES,
    comp_seed,
    genres,
    grooves,
    plan_clip,
    plan_clips,
)
from corpus.theory import MAJOR_SCALE, MINOR_SCALE, MMA_ROOTS, MOOD_NAMES  # noqa: E402

HAVE_TOOLS = all(
    __import__("shutil").which(t) for t in ("mma", "fluidsynth")
) and Path(render.FONTS["fluidr3_gm"].paths[0]).is_file()
needs_tools = pytest.mark.skipif(not HAVE_TOOLS, reason="needs mma, fluidsynth, fluid-soundfont-gm")


# --- the plan -----------------------------------------------------------------------------------
grooves_by_name = {g.groove: g for g in grooves()}


def test_plan_is_a_pure_function_of_seed_and_n():
    a, b = plan_clips("train", 0, 30), plan_clips("train", 0, 30)
    assert [s.to_dict() for s in a] == [s.to_dict() for s in b]
    assert [s.to_dict() for s in plan_clips("train", 0, 10)] == [s.to_dict() for s in a[:10]]
    assert plan_clips("train", 1, 5)[0].seed != a[0].seed


def test_plan_covers_genres_moods_and_keeps_splits_apart():
    specs = plan_clips("train", 0, 13 * 12)
    assert len(genres()) >= 12
    assert {s.genre for s in specs} == set(genres())
    assert {m for s in specs for m in s.moods} == set(MOOD_NAMES)
    fonts = {split: {s.soundfont for s in specs if s.split == split} for split in ("train", "val", "test")}
    assert fonts["train"].isdisjoint(fonts["val"] | fonts["test"])
    assert fonts["val"].isdisjoint(fonts["test"])
    # sad and calm clips are slow and minor/soft by construction; energetic ones are fast
    for s in specs:
        if "energetic" in s.moods:
            assert s.tempo_bpm >= 118
        if "sad" in s.moods:
            assert s.mode == 0 and s.tempo_bpm <= 105


def test_bench_and_sample_compositions_never_repeat_training_ones():
    train = {comp_seed("train", 0, i) for i in range(5000)}
    assert not train & {comp_seed("bench", 0, i) for i in range(400)}
    assert not train & {comp_seed("sample", 0, i) for i in range(50)}
    assert not train & {comp_seed("drumless", 0, i) for i in range(500)}


def test_drumless_preset_is_fast_capable_and_never_keeps_drums():
    specs = plan_clips("drumless", 0, 200)
    assert all(s.drop_drums for s in specs if grooves_by_name[s.groove].drums)
    assert all(any(m in ("happy", "energetic", "tense") for m in s.moods) for s in specs)
    assert sum(s.tempo_bpm > 160 for s in specs) >= 20  # the point of the preset
    # the train preset draws exactly as before: its first clips' drum choice follows the mood
    train = plan_clips("train", 0, 200)
    assert any(not s.drop_drums for s in train if grooves_by_name[s.groove].drums)


def test_train_plan_is_the_one_the_recorded_corpora_were_rendered_from():
    # docs/DATA.md gives make_corpus.py commands for corpus/train1-3; a change to the train plan
    # would make them render other music (fields added later with a default are left out)
    specs = [s.to_dict() for s in plan_clips("train", 1, 30)]
    for d in specs:
        assert d.pop("blue_notes") == 0.0 and d.pop("voicing") == ""
    assert hashlib.sha1(repr(specs).encode()).hexdigest()[:12] == "0382efd9f61a"


def test_fast_preset_plays_drum_grooves_at_170_to_260_bpm():
    specs = plan_clips("fast", 0, 120)
    assert {s.genre for s in specs} == set(FAST_GENRES)
    assert all(FAST_BPM[0] <= s.tempo_bpm <= FAST_BPM[1] for s in specs)
    assert all(grooves_by_name[s.groove].drums and not s.drop_drums for s in specs)
    assert all(s.beats_per_tap == 1 and s.meter == "4/4" for s in specs)  # the beat is the written quarter
    assert sum(s.tempo_bpm >= 220 for s in specs) >= 30
    assert not {comp_seed("train", 0, i) for i in range(5000)} & {comp_seed("fast", 0, i) for i in range(500)}


def test_blue_preset_bends_major_melodies_to_blue_notes():
    specs = plan_clips("blue", 0, 120)
    assert {s.genre for s in specs} == set(BLUE_GENRES)
    assert all(0.15 <= s.blue_notes <= 0.5 if s.mode == 1 else s.blue_notes == 0.0 for s in specs)
    # melodies sing as low in major as in minor (the train preset's are ~10 semitones lower in minor)
    low = {m: np.mean([s.register[0] for s in plan_clips("blue", 1, 600) if s.mode == m]) for m in (0, 1)}
    assert abs(low[1] - low[0]) < 3
    spec = next(s for s in specs if s.mode == 1 and s.genre == "pop" and s.blue_notes > 0.3)
    spec = replace(spec, bars=48, modulate_bar=10**6)
    bar_ticks = spec.mma_time * PPQ
    args = (chord_timeline(spec, bar_ticks), bar_ticks, int(round(spec.beats_per_tap * PPQ)), spec.bars * bar_ticks)
    blue_pcs = {(spec.key + i) % 12 for i in (3, 6, 10)}

    def blue_share(s) -> float:
        notes = write_melody(s, *args)
        return sum(n[2] % 12 in blue_pcs for n in notes) / len(notes)

    plain, bent = blue_share(replace(spec, blue_notes=0.0)), blue_share(spec)
    assert plain < 0.1  # a pop progression in major has no b3, b5 or b7
    assert bent - plain > 0.6 * spec.blue_notes


@needs_tools
def test_deep_voicing_puts_every_chord_tone_under_the_melody_in_the_bass_register(tmp_path):
    # issue 17: a blues whose chords' thirds sit below D#3 and whose melody bends to b3 above them
    specs = plan_clips("blue", 0, 60)
    assert {s.voicing for s in specs} == {"", "low", "deep"}
    spec = next(s for s in specs if s.voicing == "deep" and s.mode == 1 and not s.groove.startswith("@"))
    compose(replace(spec, bars=4), tmp_path / "x.mid")
    chords = [m.note for tr in mido.MidiFile(tmp_path / "x.mid").tracks
              if tr.name != "melody" and not tr.name.lower().startswith(("bass", "walk"))
              for m in tr if m.type == "note_on" and m.velocity > 0 and m.channel != 9]
    assert chords and max(chords) <= 51 and sum(n >= 40 for n in chords) > 0.9 * len(chords)


# --- MIDI labels ----------------------------------------------------------------------------------
def _tiny(index: int, **kw):
    spec = plan_clip("train", 0, index)
    bar_s = spec.mma_time * 60.0 / spec.mma_tempo
    return replace(spec, duration_s=3.0, bars=max(2, int(3.0 / bar_s) + 1), aug={},
                   soundfont="fluidr3_gm", **kw)


@needs_tools
@pytest.mark.parametrize("index", [0, 11, 14])
def test_same_spec_gives_identical_midi(tmp_path, index):
    spec = _tiny(index)
    compose(spec, tmp_path / "a.mid")
    compose(spec, tmp_path / "b.mid")
    assert (tmp_path / "a.mid").read_bytes() == (tmp_path / "b.mid").read_bytes()


def _meta(mid: mido.MidiFile) -> dict:
    out = {}
    for tr in mid.tracks:
        for m in tr:
            if m.is_meta and m.type in ("set_tempo", "time_signature", "key_signature"):
                out.setdefault(m.type, m)
    return out


@needs_tools
def test_tiny_render_has_the_labels_in_its_midi(tmp_path):
    from corpus.pipeline import render_clip

    spec = next(s for s in (_tiny(i) for i in range(40))
                if s.mode == 0 and s.density != "chromatic" and not s.groove.startswith("@"))
    row = render_clip(spec, tmp_path)
    y, sr = sf.read(tmp_path / row["path"])
    assert sr == 44100 and abs(len(y) / sr - 3.0) < 1e-3 and abs(y).max() > 0.01
    mid = mido.MidiFile(tmp_path / f"midi/{spec.clip_id}.mid")
    meta = _meta(mid)
    # tapped tempo = MIDI quarter-note tempo / MMA beats per tapped beat
    assert mido.tempo2bpm(meta["set_tempo"].tempo) / spec.beats_per_tap == pytest.approx(
        float(row["tempo_bpm"]), abs=0.01)
    num, den = (int(x) for x in row["meter"].split("/"))
    assert (meta["time_signature"].numerator, meta["time_signature"].denominator) == (num, den)
    key = MMA_ROOTS[int(row["key"])]
    assert meta["key_signature"].key == key + ("m" if int(row["mode"]) == 0 else "")
    # the melody stays in the labelled key: its scale (natural minor plus the leading tone of V)
    # and the tones of the progression's chords written in that key
    from corpus.compose import chord_pcs

    tonic = int(row["key"])
    allowed = {(tonic + s) % 12 for s in (MINOR_SCALE if spec.mode == 0 else MAJOR_SCALE)}
    allowed.add((tonic + 11) % 12)
    allowed |= {pc for ch in spec.progression for pc in chord_pcs(tonic, ch)}
    assert len(allowed) < 12
    melody = next(tr for tr in mid.tracks if tr.name == "melody")
    notes = [m.note % 12 for m in melody if m.type == "note_on" and m.velocity > 0]
    assert notes and set(notes) <= allowed


@pytest.mark.parametrize("kind", ["six_eight", "twelve_eight", "swing", "half_time", "fast",
                                  "slow_ballad"])
def test_hard_bench_kicks_fall_on_the_labelled_tapped_beat(tmp_path, kind):
    from corpus.bench import HARD_KINDS, _plan_hard

    spec = _plan_hard(0, HARD_KINDS.index(kind))
    assert spec.hard_kind == kind
    compose(spec, tmp_path / "x.mid")
    mid = mido.MidiFile(tmp_path / "x.mid")
    now, kicks = 0.0, []
    for m in mid:  # merged, times in seconds through the tempo map
        now += m.time
        if m.type == "note_on" and m.velocity > 0 and m.channel == 9 and m.note == 36:
            kicks.append(now)
    beat = 60.0 / spec.tempo_bpm
    assert len(kicks) >= 4
    # every kick sits on a tapped beat or a simple fraction of one, and the downbeats line up
    bar = beat * {"4/4": 4, "6/8": 2, "12/8": 4}[spec.meter]
    downbeats = {round(k / bar) for k in kicks if abs(k / bar - round(k / bar)) < 1e-3}
    assert downbeats >= set(range(spec.bars))  # a kick on every downbeat at the labelled tempo
    ts = _meta(mid)["time_signature"]
    assert f"{ts.numerator}/{ts.denominator}" == spec.meter


# --- the manifest never holds a half-written clip -----------------------------------------------------
def _rows(path: Path) -> list[dict]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def test_manifest_repairs_torn_lines_and_rows_without_audio(tmp_path):
    m = Manifest(tmp_path)
    (tmp_path / "audio").mkdir()
    (tmp_path / "audio/a.flac").write_bytes(b"x")
    m.append({"clip_id": "a", "path": "audio/a.flac"})
    m.append({"clip_id": "gone", "path": "audio/gone.flac"})
    m.close()
    with (tmp_path / "manifest.csv").open("ab") as f:
        f.write(b"half,audio/ha")  # a kill inside write()
    assert Manifest(tmp_path).done() == {"a"}
    assert (tmp_path / "manifest.csv").read_bytes().endswith(b"\n")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(junk=st.binary(max_size=200))
def test_manifest_survives_any_trailing_garbage(tmp_path, junk):
    root = tmp_path / hashlib.sha1(junk).hexdigest()
    (root / "audio").mkdir(parents=True)
    (root / "audio/a.flac").write_bytes(b"x")
    m = Manifest(root)
    m.append({"clip_id": "a", "path": "audio/a.flac"})
    m.close()
    with (root / "manifest.csv").open("ab") as f:
        f.write(junk.replace(b"\n", b" "))
    m = Manifest(root)
    m.close()
    rows = _rows(root / "manifest.csv")
    assert [r["clip_id"] for r in rows] == ["a"] and list(rows[0]) == list(COLUMNS)


_KILLER = """
import os, signal, sys
sys.path.insert(0, {scripts!r})
import corpus.render as r
import corpus.pipeline as p
real = r.write_flac
def write_flac(path, y):
    if path.stem.endswith("00001"):
        tmp = path.with_name(f".{{path.stem}}.{{os.getpid()}}.tmp.flac")
        tmp.write_bytes(b"half a flac")
        os.kill(os.getppid(), signal.SIGKILL)  # the whole run dies mid-clip
        os.kill(os.getpid(), signal.SIGKILL)
    real(path, y)
p.write_flac = write_flac
import make_corpus
sys.exit(make_corpus.main(sys.argv[1:]))
"""


@needs_tools
def test_a_killed_run_leaves_only_complete_rows_and_resumes(tmp_path):
    out = tmp_path / "c"
    script = tmp_path / "killer.py"
    script.write_text(_KILLER.format(scripts=str(SCRIPTS)))
    specs = [_tiny(i) for i in (0, 1, 2)]

    def run(argv_script: Path) -> subprocess.CompletedProcess:
        code = (f"import sys; sys.path.insert(0, {str(SCRIPTS)!r}); import corpus.plan as P\n"
                f"import pickle; specs = pickle.loads({__import__('pickle').dumps(specs)!r})\n"
                "P.plan_clips = lambda *a, **k: specs\n"
                f"exec(open({str(argv_script)!r}).read())\n")
        return subprocess.run([sys.executable, "-c", code, "--out", str(out), "--n", "3",
                               "--workers", "1", "--quiet"], capture_output=True, text=True,
                              timeout=240)

    first = run(script)
    assert first.returncode != 0  # killed
    rows = _rows(out / "manifest.csv")
    assert "train-0-00001" not in {r["clip_id"] for r in rows}
    assert all((out / r["path"]).is_file() for r in rows)
    plain = tmp_path / "plain.py"
    plain.write_text(f"import sys\nsys.path.insert(0, {str(SCRIPTS)!r})\nimport make_corpus\n"
                     "sys.exit(make_corpus.main(sys.argv[1:]))\n")
    second = run(plain)
    assert second.returncode == 0, second.stderr
    rows = _rows(out / "manifest.csv")
    assert sorted(r["clip_id"] for r in rows) == sorted(s.clip_id for s in specs)
    assert not list(out.glob("audio/*/.*.tmp.flac"))


# --- clear messages ---------------------------------------------------------------------------------
def test_missing_soundfont_names_the_file_and_the_package(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(render.FONTS, "fluidr3_gm", replace(
        render.FONTS["fluidr3_gm"], paths=(str(tmp_path / "FluidR3_GM.sf2"),)))
    with pytest.raises(render.CorpusError, match="apt-get install -y fluid-soundfont-gm"):
        render.font_for("fluidr3_gm")
    rc = make_corpus.main(["--out", str(tmp_path / "o"), "--n", "2",
                           "--soundfont", str(tmp_path / "nope.sf2")])
    err = capsys.readouterr().err
    assert rc == 1 and "nope.sf2: SoundFont not found" in err and "Traceback" not in err


@pytest.mark.parametrize("tool", ["mma", "fluidsynth"])
def test_missing_binary_gives_the_install_command(tmp_path, monkeypatch, capsys, tool):
    if not Path(render.FONTS["fluidr3_gm"].paths[0]).is_file():
        pytest.skip("fluid-soundfont-gm not installed")
    real = render.shutil.which
    monkeypatch.setattr(render.shutil, "which", lambda t: None if t == tool else real(t))
    rc = make_corpus.main(["--out", str(tmp_path / "o"), "--n", "2",
                           "--soundfont", render.FONTS["fluidr3_gm"].paths[0]])
    err = capsys.readouterr().err
    assert rc == 1 and f"sudo apt-get install -y {tool}" in err


def test_full_disk_is_reported_before_rendering(tmp_path, monkeypatch, capsys):
    if not HAVE_TOOLS:
        pytest.skip("needs the tools to get past the tool check")
    usage = render.shutil.disk_usage(tmp_path)
    monkeypatch.setattr(render.shutil, "disk_usage", lambda p: usage._replace(free=1024))
    rc = make_corpus.main(["--out", str(tmp_path / "o"), "--n", "2", "--soundfont", "fluidr3_gm"])
    err = capsys.readouterr().err
    assert rc == 1 and "disk full" in err and "resumes" in err
    assert not (tmp_path / "o" / "manifest.csv").exists() or len(
        _rows(tmp_path / "o" / "manifest.csv")) == 0


def test_write_flac_turns_a_full_disk_into_a_clear_error(tmp_path, monkeypatch):
    import errno

    import numpy as np

    def boom(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(render.sf, "write", boom)
    with pytest.raises(render.CorpusError, match="disk full"):
        render.write_flac(tmp_path / "x.flac", np.zeros((10, 2), np.float32))
    assert not list(tmp_path.iterdir())
    assert os.environ.get("PATH")  # the environment is untouched


# --- bench sets ---------------------------------------------------------------------------------------
needs_music21 = pytest.mark.skipif(
    __import__("importlib.util").util.find_spec("music21") is None, reason="needs music21")


@needs_music21
@pytest.mark.parametrize(("bwv", "tonic", "mode"), [("bwv66.6", 6, 0), ("bwv1.6", 5, 1)])
def test_chorale_key_comes_from_the_score(bwv, tonic, mode):
    from corpus.bench import chorale_info, chorale_paths

    path = next(p for p in chorale_paths() if p.endswith(f"/{bwv}.mxl"))
    assert chorale_info(path)[:3] == (tonic, mode, "4/4")  # F# minor; F major


@needs_music21
def test_bench_plan_is_pure_and_labels_follow_transposition():
    from corpus.bench import SUBSETS, chorale_info

    a, b = plan_clips("bench", 0, 3), plan_clips("bench", 0, 3)
    assert [s.to_dict() for s in a] == [s.to_dict() for s in b]
    assert [s.subset for s in a] == list(SUBSETS) * 3
    for s in a:
        assert 20.0 <= s.duration_s <= 30.0 or s.subset == "chorales"
        if s.subset == "chorales":
            tonic, mode, _, _ = chorale_info(s.variant)
            assert s.key == (tonic + s.transpose) % 12 and s.mode == mode
        if s.hard_kind == "modulation":
            assert s.modulates and s.modulate_bar < s.bars
