"""Turn a clip spec into a MIDI file: an MMA groove (or one of our own composers) plus a melody.

Everything here is a deterministic function of the spec: the same spec gives byte-identical MIDI.
Labels (tempo, meter, key, mode) are properties of the spec and are written into the MIDI as
meta events, so tests can check the MIDI rather than trust an estimator.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import mido
import numpy as np

from .theory import GM_NAMES, MAJOR_SCALE, MINOR_SCALE, MMA_ROOTS, QUALITIES, family_of, mma_chord

if TYPE_CHECKING:
    from .plan import ClipSpec

PPQ = 192  # MMA's resolution; our own composers use the same so tick maths is shared
DRUM_CH = 9

# Extra MMA tracks layered over drum-only grooves (zoom library) or replacing voices.
_EXTRA_MMA = {
    "skank": """
Begin Chord-Skank
 Voice {chord}
 Octave 5
 Articulate 35
 Sequence {{ 2 8 90 ; 4 8 90 }}
End
Begin Bass-Dub
 Voice {bass}
 Octave 3
 Sequence {{ 1 4. 1 110; 2.5 8 5 90; 3 4 3 100; 4.5 8 1 90 }}
End
""",
    "upstroke": """
Begin Chord-Up
 Voice {chord}
 Octave 5
 Articulate 40
 Sequence {{ 1.5 8 90 ; 2.5 8 85 ; 3.5 8 90 ; 4.5 8 85 }}
End
Begin Walk-Ska
 Voice {bass}
 Octave 3
 Sequence {{ 1 4 100; 2 4 90; 3 4 100; 4 4 90 }}
End
""",
    "power": """
Begin Chord-Power
 Voice {chord}
 Octave 4
 Voicing Mode=Root
 Articulate 80
 Sequence {{ 1 8 110; 1.5 8 95; 2 8 105; 2.5 8 95; 3 8 110; 3.5 8 95; 4 8 105; 4.5 8 95 }}
End
Begin Bass-Pick
 Voice {bass}
 Octave 3
 Sequence {{ 1 8 1 110; 1.5 8 1 95; 2 8 1 105; 2.5 8 1 95; 3 8 1 110; 3.5 8 1 95; 4 8 1 105; 4.5 8 1 95 }}
End
""",
    "synth": """
Begin Bass-Synth
 Voice {bass}
 Octave 3
 Articulate 70
 Sequence {{ 1.5 8 1 100; 2.5 8 1 100; 3.5 8 1 100; 4.5 8 1 100 }}
End
Begin Chord-Pad
 Voice {pad}
 Octave 5
 Sequence {{ 1 1 70 }}
End
Begin Arpeggio-Syn
 Voice {chord}
 Octave 6
 Articulate 60
 Sequence {{ 1 8 70; 1.5 8 60; 2 8 70; 2.5 8 60; 3 8 70; 3.5 8 60; 4 8 70; 4.5 8 60 }}
End
""",
    "funk": """
Begin Bass-Slap
 Voice {bass}
 Octave 3
 Articulate 60
 Sequence {{ 1 8 1 115; 1.75 16 1 90; 2.5 8 5 95; 3 16 1 105; 3.5 8 3 90; 4.25 16 5 85; 4.5 8 1 95 }}
End
Begin Chord-Clav
 Voice {chord}
 Octave 5
 Articulate 45
 Sequence {{ 1.5 16 90; 2.25 16 80; 2.75 16 85; 3.5 16 90; 4.25 16 80 }}
End
""",
    "keys": """
Begin Chord-Keys
 Voice {chord}
 Octave 5
 Sequence {{ 1 2 75; 3 2 65 }}
End
Begin Bass-Sub
 Voice {bass}
 Octave 3
 Sequence {{ 1 4. 1 105; 2.75 16 1 80; 3.5 4 1 95 }}
End
""",
    "pads": """
Begin Chord-Pad
 Voice {pad}
 Octave 5
 Sequence {{ 1 1 70 }}
End
Begin Bass-Drone
 Voice {bass}
 Octave 3
 Sequence {{ 1 1 1 75 }}
End
""",
}
_EXTRA_VOICES: dict[str, dict[str, tuple[int, ...]]] = {  # GM programs each extra's roles choose from
    "skank": {"chord": (27, 16, 26, 17), "bass": (33, 34, 38)},
    "upstroke": {"chord": (27, 16, 28, 4), "bass": (32, 33, 34)},
    "power": {"chord": (30, 29), "bass": (34, 33)},
    "synth": {"chord": (81, 80, 87, 98), "bass": (38, 39, 87), "pad": (89, 90, 94, 95, 50)},
    "funk": {"chord": (7, 27, 28, 4), "bass": (36, 37, 33)},
    "keys": {"chord": (4, 5, 0, 11, 88), "bass": (38, 33, 35)},
    "pads": {"chord": (88,), "bass": (89, 92, 38), "pad": (88, 89, 91, 94, 95, 92)},
}
# Roles -> orchestral programs for grooves re-voiced as classical.
_ORCH_BASS = (42, 43, 70, 58, 32)
_ORCH_UPPER = (48, 49, 40, 41, 46, 0, 19, 52, 71, 73, 68, 60, 6)


class ToolMissingError(RuntimeError):
    """An external program the corpus needs is not installed."""


@dataclass(frozen=True)
class Composition:
    """What a composed clip contains (for the manifest)."""

    instruments: tuple[str, ...]
    has_drums: bool
    bars: int
    seconds: float


# --- small helpers -----------------------------------------------------------------------------
def chord_pcs(tonic: int, chord: tuple[int, str]) -> list[int]:
    off, q = chord
    return [(tonic + off + iv) % 12 for iv in QUALITIES[q]]


def _rng(spec: ClipSpec, salt: int) -> np.random.Generator:
    return np.random.default_rng([spec.seed, salt])


def chord_timeline(spec: ClipSpec, bar_ticks: int) -> list[tuple[int, int, int, tuple[int, str]]]:
    """(start, end, tonic, chord) for every chord slot, modulation included."""
    out = []
    slots = spec.chords_per_bar
    slot = bar_ticks // slots
    for bar in range(spec.bars):
        tonic = spec.key if bar < spec.modulate_bar else (spec.key + spec.modulate_by) % 12
        for s in range(slots):
            ch = spec.progression[(bar * slots + s) % len(spec.progression)]
            start = bar * bar_ticks + s * slot
            out.append((start, start + slot, tonic, ch))
    return out


def scale_pcs(tonic: int, mode: int) -> list[int]:
    return [(tonic + s) % 12 for s in (MAJOR_SCALE if mode == 1 else MINOR_SCALE)]


def _nearest(pitch: int, pcs: list[int], lo: int, hi: int, rng: np.random.Generator,
             step: int) -> int:
    cands = [p for p in range(lo, hi + 1) if p % 12 in pcs]
    if not cands:
        return int(np.clip(pitch, lo, hi))
    target = pitch + step
    cands.sort(key=lambda p: (abs(p - target), rng.random()))
    return cands[0]


# --- melody ------------------------------------------------------------------------------------
_RHYTHMS: dict[int, dict[str, tuple[float, ...]]] = {  # durations in sub-beats for simple (2 subs/tap) and compound (3 subs/tap) meters
    2: {"sparse": (4, 4, 8, 2, 6), "medium": (2, 2, 1, 1, 4, 3), "dense": (1, 1, 1, 2, 0.5, 0.5),
        "chromatic": (1, 2, 1, 2, 3, 1)},
    3: {"sparse": (6, 3, 6, 9), "medium": (3, 2, 1, 3, 1, 2), "dense": (1, 1, 1, 2, 3),
        "chromatic": (1, 2, 3, 1, 2)},
}


def write_melody(spec: ClipSpec, timeline: list[tuple[int, int, int, tuple[int, str]]],
                 bar_ticks: int, tap_ticks: int, total_ticks: int,
                 ) -> list[tuple[int, int, int, int]]:
    """Melody notes (start_tick, dur_tick, pitch, velocity) over the chord timeline.

    Two-bar motifs are repeated with new pitches (music repeats itself); chord tones land on the
    beats, scale steps between them; ``spec.avoid_tonic`` keeps the tonic out of the line;
    ``spec.blue_notes`` bends that share of the notes, on the beat or between, to the key's minor
    third, flat seventh or flat fifth.
    """
    rng = _rng(spec, 11)
    blue_rng = _rng(spec, 17)  # its own stream: a melody without blue notes is note-for-note as before
    sub = tap_ticks // spec.subdiv
    vocab = _RHYTHMS[spec.subdiv][spec.density]
    lo, hi = spec.register
    motif_len = 2 * bar_ticks
    # one rhythm per motif, reused: (offset, duration, rest?)
    motifs = []
    for _ in range(2):
        t, cells = 0, []
        while t < motif_len:
            d = int(vocab[rng.integers(len(vocab))] * sub)
            d = max(min(d, motif_len - t), sub // 2)
            cells.append((t, d, rng.random() < (0.25 if spec.density == "sparse" else 0.12)))
            t += d
        motifs.append(cells)
    notes = []
    pitch = int(rng.integers(lo + 4, hi - 4))
    base_vel = 92 * spec.velocity
    for m0 in range(0, total_ticks, motif_len):
        cells = motifs[(m0 // motif_len) % 4 == 3]  # an AABA-ish pattern of rhythms
        for off, dur, rest in cells:
            start = m0 + off
            if start >= total_ticks or rest:
                continue
            slot = next(s for s in timeline if s[0] <= start < s[1]) if start < timeline[-1][1] \
                else timeline[-1]
            tonic, chord = slot[2], slot[3]
            chord_tones = chord_pcs(tonic, chord)
            scale = scale_pcs(tonic, spec.mode)
            if spec.mode == 0 and chord[0] == 7 and chord[1] in ("", "7", "7b9"):
                scale = [(p + 1) % 12 if p == (tonic + 10) % 12 else p for p in scale]
            on_beat = (start % tap_ticks) == 0
            pcs = chord_tones if on_beat else scale
            if spec.density == "chromatic" and rng.random() < 0.3:
                pcs = list(range(12))
            if spec.blue_notes and blue_rng.random() < spec.blue_notes:
                pcs = [(tonic + int(blue_rng.choice((3, 3, 10, 10, 6)))) % 12]
            if spec.avoid_tonic:
                pcs = [p for p in pcs if p != spec.key % 12] or [(spec.key + 7) % 12]
            step = int(rng.choice((-2, -1, 1, 2, 0, -4, 4, 7, -7) if spec.density != "sparse"
                                  else (-2, -1, 1, 2, -3, 3)))
            pitch = _nearest(pitch, pcs, lo, hi, rng, step)
            accent = 1.1 if start % bar_ticks == 0 else (1.0 if on_beat else 0.9)
            vel = int(np.clip(base_vel * accent + rng.normal(0, 5), 20, 127))
            held = max(int(dur * spec.articulation), sub // 3)
            notes.append((start, min(held, total_ticks - start), pitch, vel))
    return notes


# --- MMA ----------------------------------------------------------------------------------------
def mma_source(spec: ClipSpec) -> str:
    """The MMA chord chart for ``spec``."""
    rng = _rng(spec, 3)
    lines = [f"RndSeed {spec.seed % 100000}", f"Tempo {spec.mma_tempo:g}", f"Groove {spec.variant}"]
    if spec.extra in _EXTRA_MMA:
        voices = {r: int(rng.choice(p)) for r, p in _EXTRA_VOICES[spec.extra].items()}
        voices.setdefault("pad", 89)
        lines.append(_EXTRA_MMA[spec.extra].format(**voices))
    bar_ticks = spec.mma_time * PPQ
    tl = chord_timeline(spec, bar_ticks)
    per = spec.chords_per_bar
    for bar in range(spec.bars + 1):  # one spare bar: the render is cut to length afterwards
        names = [mma_chord(t, c) for _, _, t, c in tl[bar * per:(bar + 1) * per]] or \
            [mma_chord(tl[-1][2], tl[-1][3])]
        lines.append(f"{bar + 1} " + " ".join(names))
    return "\n".join(lines) + "\n"


def run_mma(source: str, out_mid: Path) -> None:
    from .render import which_or_die

    mma = which_or_die("mma")
    with tempfile.TemporaryDirectory(prefix="mma_") as td:
        src = Path(td) / "clip.mma"
        src.write_text(source)
        res = subprocess.run([mma, str(src), "-f", str(out_mid)], capture_output=True, text=True,
                             timeout=120)
    if res.returncode != 0 or not out_mid.exists():
        msg = "\n".join(line for line in (res.stdout + res.stderr).splitlines() if "Error" in line)
        raise RuntimeError(f"mma failed on a generated chart: {msg or res.stderr[-400:]}")


# --- our own composers ---------------------------------------------------------------------------
def _pattern_notes(timeline, bar_ticks: int, sub: int, pattern, register: tuple[int, int],
                   vel: float, rng: np.random.Generator):
    """Accompaniment from a per-bar pattern of (sub_offset, dur_subs, tone, velocity).

    tone: "b" = chord root in the bass register, "c" = the whole chord, 0/1/2/3 = chord tone index.
    """
    out = []
    for start, end, tonic, chord in timeline:
        pcs = chord_pcs(tonic, chord)
        root = pcs[0]
        for off, dur, tone, v in pattern:
            t = start + int(off * sub)
            if t >= end:
                continue
            d = min(int(dur * sub), end - t)
            vv = int(np.clip(v * vel + rng.normal(0, 4), 15, 127))
            if tone == "b":
                p = register[0] + (root - register[0]) % 12
                out.append((t, d, p, vv))
            elif isinstance(tone, str) and tone.startswith("d"):  # a fixed (drum) note
                out.append((t, d, int(tone[1:]), vv))
            elif tone == "c":
                for pc in pcs[:4]:
                    p = register[0] + 12 + (pc - register[0]) % 12
                    out.append((t, d, min(p, register[1]), vv))
            else:
                pc = pcs[int(tone) % len(pcs)]
                p = register[0] + 12 + (pc - register[0]) % 12
                out.append((t, d, p, vv))
    return out


# a part: (program choices, register, pattern of (sub offset, sub duration, tone, velocity))
Part = tuple[tuple[int, ...], tuple[int, int], list[tuple[float, float, Any, int]]]
_OWN_STYLES: dict[str, tuple[str, list[Part]]] = {
    # name: (meters it fits, [(program choices, register, pattern over one chord slot)])
    "ambient_pad": ("4/4 3/4", [((88, 89, 91, 94, 95, 92, 52), (48, 84), [(0, 64, "c", 60)]),
                                ((89, 92, 38, 48), (28, 52), [(0, 64, "b", 70)]),
                                ((98, 11, 46, 8, 14), (60, 96), [(0, 1, 2, 45), (3, 1, 1, 40),
                                                                 (6, 1, 0, 40)])]),
    "alberti": ("4/4 3/4", [((0, 1, 6, 46), (36, 72), [(0, 1, "b", 80), (1, 1, 2, 60), (2, 1, 1, 65),
                                                       (3, 1, 2, 60), (4, 1, "b", 75), (5, 1, 2, 60),
                                                       (6, 1, 1, 65), (7, 1, 2, 60)])]),
    "quartet": ("4/4 3/4 6/8", [((42, 43), (28, 55), [(0, 4, "b", 80), (4, 4, "b", 75)]),
                                ((41, 48), (43, 67), [(0, 4, 1, 70), (4, 4, 2, 65)]),
                                ((40, 49), (52, 76), [(0, 4, 2, 70), (4, 4, 1, 65)])]),
    "harp": ("4/4 3/4 6/8", [((46, 24, 0), (40, 76), [(0, 1, "b", 75), (1, 1, 0, 60), (2, 1, 1, 60),
                                                      (3, 1, 2, 62), (4, 1, 3, 60), (5, 1, 1, 58)]),
                             ((48, 49, 42), (36, 64), [(0, 12, "b", 55)])]),
    "waltz": ("3/4", [((0, 48, 45, 21), (28, 52), [(0, 2, "b", 85)]),
                      ((0, 48, 45, 21), (52, 76), [(2, 2, "c", 60), (4, 2, "c", 58)])]),
}


def _own_tracks(spec: ClipSpec, timeline, bar_ticks: int, tap_ticks: int):
    rng = _rng(spec, 5)
    sub = tap_ticks // spec.subdiv
    style = spec.own_style
    if style.startswith("band_"):
        from .bench import band_tracks

        return band_tracks(spec, timeline, bar_ticks, tap_ticks)
    tracks = []
    for progs, register, pattern in _OWN_STYLES[style][1]:
        prog = int(rng.choice(progs))
        notes = _pattern_notes(timeline, bar_ticks, sub, pattern, register, spec.velocity, rng)
        tracks.append((prog, notes))
    return tracks


# --- assembling -----------------------------------------------------------------------------------
def _to_track(name: str, channel: int, program: int, notes, meta=()) -> mido.MidiTrack:
    ev: list[tuple[int, int, mido.Message | mido.MetaMessage]] = [
        (0, 0, mido.MetaMessage("track_name", name=name, time=0))]
    ev += [(0, 0, m) for m in meta]
    if channel != DRUM_CH:
        ev.append((0, 1, mido.Message("program_change", channel=channel, program=program, time=0)))
    for t, d, p, v in notes:
        ev.append((t, 3, mido.Message("note_on", channel=channel, note=int(p), velocity=int(v))))
        ev.append((t + max(d, 1), 2, mido.Message("note_off", channel=channel, note=int(p))))
    ev.sort(key=lambda e: (e[0], e[1]))
    tr = mido.MidiTrack()
    last = 0
    for t, _, m in ev:
        tr.append(m.copy(time=t - last))
        last = t
    tr.append(mido.MetaMessage("end_of_track", time=0))
    return tr


def _meta(spec: ClipSpec) -> list[mido.MetaMessage]:
    num, den = (int(x) for x in spec.meter.split("/"))
    key = MMA_ROOTS[spec.key] + ("" if spec.mode == 1 else "m")
    return [mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(spec.mma_tempo), time=0),
            mido.MetaMessage("time_signature", numerator=num, denominator=den, time=0),
            mido.MetaMessage("key_signature", key=key, time=0)]


def compose(spec: ClipSpec, out_mid: Path) -> Composition:
    """Write the MIDI of ``spec`` to ``out_mid`` and describe what it contains."""
    bar_ticks = spec.mma_time * PPQ
    tap_ticks = int(round(spec.beats_per_tap * PPQ))
    total = spec.bars * bar_ticks
    timeline = chord_timeline(spec, bar_ticks)
    rng = _rng(spec, 7)
    if spec.groove.startswith("@"):
        mid = mido.MidiFile(type=1, ticks_per_beat=PPQ)
        mid.tracks.append(_to_track("meta", 0, 0, [], _meta(spec)))
        if spec.groove == "@chorale":
            from .bench import chorale_tracks

            parts = chorale_tracks(spec)
        else:
            parts = _own_tracks(spec, timeline, bar_ticks, tap_ticks)
        for ch, (prog, notes) in enumerate(parts):
            mid.tracks.append(_to_track(f"part{ch}", DRUM_CH if prog < 0 else ch, prog, notes))
    else:
        fd, tmp = tempfile.mkstemp(suffix=".mid")
        os.close(fd)
        try:
            run_mma(mma_source(spec), Path(tmp))
            mid = mido.MidiFile(tmp)
        finally:
            os.unlink(tmp)
        _rewrite_mma(mid, spec, rng)
    used = {m.channel for tr in mid.tracks for m in tr if hasattr(m, "channel")}
    lead_ch = next(c for c in (15, 14, 13, 12, 11, 10, 8, 7, 6, 5, 4, 3) if c not in used)
    if spec.groove != "@chorale":  # a chorale is complete as written
        melody = write_melody(spec, timeline, bar_ticks, tap_ticks, total)
        mid.tracks.append(_to_track("melody", lead_ch, spec.lead_program, melody))
    if spec.detune_cents:
        _detune(mid, spec.detune_cents)
    mid.save(out_mid)
    return describe(mid, spec)


def _rewrite_mma(mid: mido.MidiFile, spec: ClipSpec, rng: np.random.Generator) -> None:
    """Apply the mood and timbre controls to MMA's output (velocity, voices, drums)."""
    for tr in mid.tracks:
        bassy = tr.name.lower().startswith(("bass", "walk"))
        keep = []
        carry = 0
        for m in tr:
            if m.type in ("key_signature", "time_signature") or (
                    spec.drop_drums and getattr(m, "channel", None) == DRUM_CH):
                carry += m.time
                continue
            if carry:
                m = m.copy(time=m.time + carry)
                carry = 0
            if m.type == "note_on" and m.velocity > 0:
                m = m.copy(velocity=int(np.clip(round(m.velocity * spec.velocity), 1, 127)))
            if spec.voicing and m.type in ("note_on", "note_off") and not bassy \
                    and m.channel != DRUM_CH:
                m = m.copy(note=_voiced(m.note, spec.voicing))
            elif m.type == "program_change" and m.channel != DRUM_CH:
                prog = m.program
                if spec.extra == "orchestral":
                    prog = int(rng.choice(_ORCH_BASS if bassy else _ORCH_UPPER))
                elif rng.random() < spec.remap_p:
                    prog = int(rng.choice(family_of(prog)))
                m = m.copy(program=prog)
            keep.append(m)
        tr[:] = keep
    # MMA names track 0 after its (temporary) input file: rename it so the MIDI is reproducible
    mid.tracks[0][:] = [m.copy(name=spec.clip_id) if m.type == "track_name" else
                        m.copy(text="Created by MMA") if m.type == "text" else m
                        for m in mid.tracks[0]]
    # the labels as meta events, in the first track, at time 0
    mid.tracks[0][0:0] = [m for m in _meta(spec) if m.type != "set_tempo"]


def _voiced(note: int, voicing: str) -> int:
    """An accompaniment note under ``voicing`` (``ClipSpec.voicing``): notes below E2 (40) stay;
    "deep" folds the rest by octaves into E2-D#3, the lowest of the key model's registers."""
    if voicing == "low":
        return note - 12 if note >= 40 else note
    return note - 12 * ((note - 40) // 12) if note >= 52 else note


def _detune(mid: mido.MidiFile, cents: float) -> None:
    """Detune every pitched channel by ``cents`` with pitch bend (range +-2 semitones)."""
    value = int(round(cents / 200.0 * 8191))
    for tr in mid.tracks:
        chans = sorted({m.channel for m in tr if hasattr(m, "channel") and m.channel != DRUM_CH})
        tr[0:0] = [mido.Message("pitchwheel", channel=c, pitch=value, time=0) for c in chans]


def describe(mid: mido.MidiFile, spec: ClipSpec) -> Composition:
    progs: dict[int, int] = {}
    sounding: set[int] = set()
    drums = False
    for tr in mid.tracks:
        for m in tr:
            if m.type == "program_change":
                progs[m.channel] = m.program
            elif m.type == "note_on" and m.velocity > 0:
                if m.channel == DRUM_CH:
                    drums = True
                else:
                    sounding.add(m.channel)
    names = sorted({GM_NAMES[progs.get(c, 0)] for c in sounding})
    return Composition(tuple(names) + (("drums",) if drums else ()), drums, spec.bars,
                       spec.bars * spec.mma_time * 60.0 / spec.mma_tempo)
