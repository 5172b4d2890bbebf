"""The labelled tempo/key benchmark sets (``--preset bench``).

Four subsets, ``n`` clips each, 20-30 s: ``with_drums`` and ``without_drums`` (the training
generator's music, drums kept or absent), ``chorales`` (Bach chorales from music21's offline corpus,
transposed, key and mode from the score), and ``hard`` (one difficulty per clip, in column
``hard_kind``).  Compositions come from their own seed space (preset code 2), so they never
coincide with training compositions; all fonts are the Debian ones, used in turn.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any, cast

import numpy as np

from .compose import _pattern_notes
from .plan import ALL_FONTS, GENRE_LEADS, PRESETS, ClipSpec, _aug, _pick, grooves, make_progression
from .theory import MOODS, PROGRESSIONS, _p

SUBSETS = ("with_drums", "without_drums", "chorales", "hard")
HARD_KINDS = ("syncopation", "half_time", "swing", "six_eight", "twelve_eight", "slow_ballad",
              "fast", "borrowed", "modulation", "avoid_tonic", "detuned")
# kind -> (band style, meter, mma_time, beats_per_tap, subdiv, tapped BPM range)
_TEMPO_KINDS = {
    "syncopation": ("band_sync", "4/4", 4, 1.0, 2, (90, 130)),
    "half_time": ("band_half", "4/4", 4, 1.0, 2, (120, 160)),
    "swing": ("band_swing", "4/4", 4, 1.0, 3, (100, 180)),
    "six_eight": ("band_68", "6/8", 6, 3.0, 3, (50, 80)),
    "twelve_eight": ("band_128", "12/8", 4, 1.0, 3, (50, 80)),
    "slow_ballad": ("band_ballad", "4/4", 4, 1.0, 2, (50, 60)),
    "fast": ("band_fast", "4/4", 4, 1.0, 2, (180, 200)),
}
BORROWED = (_p("I", "bVI", "bVII", "I"), _p("I", "iv", "I", "V"), _p("I", "bVII", "IV", "I"),
            _p("I", "IV", "iv", "I"), _p("I", "bIII", "IV", "I"), _p("I", "bVI", "IV", "V"))

_K, _S, _H, _RIDE, _PEDAL = "d36", "d38", "d42", "d51", "d44"


def _hats(step: float, taps: int, vel: int = 75) -> list:
    n = int(round(taps / step))
    return [(k * step, step, _H, vel + (10 if k % 2 == 0 else 0)) for k in range(n)]


# Band patterns in taps (position, duration, tone, velocity); tone as in compose._pattern_notes.
_BAND_TAPS: dict[str, list[Any]] = {
    "band_sync": [
        (-1, [(0, .5, _K, 105), (.75, .25, _K, 85), (1.5, .5, _K, 95), (2.75, .25, _K, 90),
              (3.5, .5, _K, 85), (1, .5, _S, 105), (3, .5, _S, 105)] + _hats(.5, 4)),
        ((33, 34, 35, 38), (28, 52), [(0, .5, "b", 105), (.75, .5, "b", 90), (1.5, 1, "b", 95),
                                      (2.75, .5, "b", 95), (3.5, .5, "b", 85)]),
        ((4, 27, 16, 5), (48, 72), [(.5, .5, "c", 75), (1.75, .25, "c", 70), (2.5, .5, "c", 75),
                                    (3.75, .25, "c", 70)]),
    ],
    "band_half": [
        (-1, [(0, .5, _K, 105), (.75, .25, _K, 80), (2, .5, _S, 110)] + _hats(.5, 4)),
        ((33, 34, 38), (28, 52), [(0, 1.5, "b", 100), (.75, .75, "b", 85), (3.5, .5, "b", 80)]),
        ((89, 48, 16, 0), (48, 72), [(0, 4, "c", 60)]),
    ],
    "band_swing": [
        (-1, [(0, 1, _RIDE, 80), (1, 2 / 3, _RIDE, 85), (5 / 3, 1 / 3, _RIDE, 70), (2, 1, _RIDE, 80),
              (3, 2 / 3, _RIDE, 85), (11 / 3, 1 / 3, _RIDE, 70), (1, .5, _PEDAL, 70),
              (3, .5, _PEDAL, 70), (0, .5, _K, 55), (8 / 3, 1 / 3, _S, 45)]),
        ((32, 33), (28, 52), [(0, 1, "b", 95), (1, 1, 2, 85), (2, 1, 1, 90), (3, 1, 3, 85)]),
        ((0, 26, 11, 4), (50, 74), [(5 / 3, 1 / 3, "c", 70), (3, 2 / 3, "c", 65)]),
    ],
    "band_68": [
        (-1, [(0, 1 / 3, _K, 100), (1, 1 / 3, _S, 95)] + _hats(1 / 3, 2, 65)),
        ((32, 33, 42), (28, 52), [(0, 1, "b", 95), (1, 2 / 3, 2, 80), (5 / 3, 1 / 3, "b", 75)]),
        ((24, 46, 0, 25), (50, 76), [(k / 3, 1 / 3, k % 3, 65) for k in range(6)]),
    ],
    "band_128": [
        (-1, [(0, 1 / 3, _K, 100), (2, 1 / 3, _K, 95), (8 / 3, 1 / 3, _K, 75), (1, 1 / 3, _S, 100),
              (3, 1 / 3, _S, 100)] + _hats(1 / 3, 4, 60)),
        ((33, 34, 32), (28, 52), [(0, 1, "b", 95), (5 / 3, 1 / 3, "b", 80), (2, 1, 2, 90),
                                  (3, 1, 1, 85)]),
        ((0, 16, 4, 27), (50, 74), [(k / 3, 1 / 3, "c", 55 + (15 if k % 3 == 0 else 0))
                                    for k in range(12)]),
    ],
    "band_ballad": [
        (-1, [(0, .5, _K, 90), (2.5, .5, _K, 80), (1, .5, _S, 85), (3, .5, _S, 85)] + _hats(.5, 4, 55)),
        ((33, 35, 32), (28, 52), [(0, 2.5, "b", 90), (2.5, 1.5, "b", 80)]),
        ((0, 4, 48, 89), (48, 72), [(0, 2, "c", 60), (2, 2, "c", 55)]),
    ],
    "band_fast": [
        (-1, [(0, .5, _K, 110), (2, .5, _K, 105), (1, .5, _S, 110), (3, .5, _S, 110)] + _hats(.5, 4, 80)),
        ((34, 33), (28, 52), [(k * .5, .5, "b", 105 - 8 * (k % 2)) for k in range(8)]),
        ((30, 29), (40, 64), [(k * .5, .5, "c", 100 - 8 * (k % 2)) for k in range(8)]),
    ],
}
_BAND_SUBDIV = {"band_swing": 3, "band_68": 3, "band_128": 3}


def _band_parts(style: str):
    """Parts of a band style as (program choices, register, pattern in sub-beats)."""
    k = _BAND_SUBDIV.get(style, 2)
    parts = []
    for part in _BAND_TAPS[style]:
        if part[0] == -1:
            progs, register, pattern = (-1,), (0, 127), part[1]
        else:
            progs, register, pattern = part
        parts.append((progs, register, [(p * k, d * k, t, v) for p, d, t, v in pattern]))
    return parts


def band_tracks(spec: ClipSpec, timeline, bar_ticks: int, tap_ticks: int):
    rng = np.random.default_rng([spec.seed, 5])
    sub = tap_ticks // spec.subdiv
    out = []
    for progs, register, pattern in _band_parts(spec.own_style):
        prog = int(rng.choice(progs))
        out.append((prog, _pattern_notes(timeline, bar_ticks, sub, pattern, register,
                                         spec.velocity, rng)))
    return out


# --- chorales ---------------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def chorale_paths() -> tuple[str, ...]:
    from music21 import corpus

    return tuple(sorted(str(p) for p in corpus.getComposer("bach") if "bwv" in p.name.lower()))


@lru_cache(maxsize=512)
def chorale_info(path: str) -> tuple[int, int, str, float] | None:
    """(tonic, mode, meter, length in quarters) from the score, or None if the key is unclear.

    Tonic and mode: the key signature names a major key and its relative minor; the final bass
    note decides between them (chorales end on the tonic, minor ones often with a Picardy third,
    which leaves the bass alone).  Anything else (modal endings on V) is skipped.
    """
    from music21 import converter

    score = cast(Any, converter.parse(path))
    keys = list(score.recurse().getElementsByClass("KeySignature"))
    metres = list(score.recurse().getElementsByClass("TimeSignature"))
    if not keys or not metres or len(score.parts) < 4:
        return None
    ks = keys[0]
    major = (ks.sharps * 7) % 12
    minor = (major + 9) % 12
    final = score.parts[-1].flatten().notes[-1]
    bass_pc = final.pitches[0].pitchClass
    written = getattr(ks, "mode", None)
    if bass_pc == major and written != "minor":
        mode, tonic = 1, major
    elif bass_pc == minor and written != "major":
        mode, tonic = 0, minor
    else:
        return None
    meter = metres[0].ratioString
    if meter not in ("4/4", "3/4"):
        return None
    return tonic, mode, meter, float(score.highestTime)


def chorale_tracks(spec: ClipSpec):
    """Four voices of the chorale ``spec.variant``, transposed by ``spec.transpose``."""
    from music21 import converter

    from .compose import PPQ

    score = cast(Any, converter.parse(spec.variant)).stripTies()
    rng = np.random.default_rng([spec.seed, 5])
    ensembles = ((19, 19, 19, 19), (20, 20, 20, 20), (40, 40, 41, 42), (48, 48, 48, 48),
                 (52, 52, 53, 52), (73, 68, 71, 70), (56, 60, 57, 58), (0, 0, 0, 0), (6, 6, 6, 6))
    ens = ensembles[int(rng.integers(len(ensembles)))]
    lead = spec.lead_program
    out = []
    for i, part in enumerate(score.parts[:4]):
        notes = []
        for n in part.flatten().notes:
            t = int(round(float(n.offset) * PPQ))
            d = int(round(float(n.quarterLength) * PPQ * spec.articulation))
            for p in n.pitches:
                v = int(np.clip(82 * spec.velocity + rng.normal(0, 4), 20, 127))
                notes.append((t, max(d, 1), p.midi + spec.transpose, v))
        out.append((lead if i == 0 and rng.random() < 0.4 else ens[i], notes))
    return out


# --- planning -----------------------------------------------------------------------------------------
def _seed(seed: int, subset: str, i: int) -> int:
    ss = np.random.SeedSequence([PRESETS["bench"], seed, SUBSETS.index(subset), i])
    return int(ss.generate_state(1)[0])


def _base(rng: np.random.Generator, cs: int, clip_id: str, subset: str, i: int, g, mood,
          tempo: float, mode: int, prog, **kw) -> ClipSpec:
    duration = float(round(rng.uniform(20.0, 30.0), 2))
    bar_s = g.mma_time * 60.0 / (tempo * g.beats_per_tap)
    velocity = float(rng.uniform(*mood.velocity))
    genre = kw.pop("genre", g.genre)
    fields = dict(
        clip_id=clip_id, index=i, seed=cs, split="bench", genre=genre, moods=mood.moods,
        groove=g.groove, variant=_pick(rng, (g.groove,) + g.variants), extra=g.extra,
        own_style="", meter=g.meter, mma_time=g.mma_time, beats_per_tap=g.beats_per_tap,
        subdiv=g.subdiv, tempo_bpm=tempo, key=int(rng.integers(12)), mode=mode, progression=prog,
        chords_per_bar=1, bars=max(2, math.ceil(duration / bar_s)), duration_s=duration,
        velocity=velocity, register=mood.register, density=mood.density,
        articulation=float(rng.uniform(*mood.articulation)),
        lead_program=int(_pick(rng, GENRE_LEADS[genre])), remap_p=0.0, drop_drums=False,
        soundfont=ALL_FONTS[i % len(ALL_FONTS)], aug=_aug(rng, velocity), subset=subset)
    fields.update(kw)
    return ClipSpec(**fields)


def _mood_groove(rng: np.random.Generator, cands, mode: int):
    for _ in range(200):
        mood = _pick(rng, MOODS)
        if mode not in mood.modes:
            continue
        lo, hi = mood.tempo_window
        fits = [g for g in cands if g.tempo_lo <= hi and g.tempo_hi >= lo]
        if fits:
            g = _pick(rng, fits)
            a, b = max(g.tempo_lo, lo), min(g.tempo_hi, hi)
            return mood, g, float(round(a + rng.uniform(*mood.tempo_pos) * (b - a)))
    raise RuntimeError("no groove fits")


def _plan_groove_clip(seed: int, subset: str, i: int, drums: bool) -> ClipSpec:
    cs = _seed(seed, subset, i)
    rng = np.random.default_rng(cs)
    mode = i % 2  # balanced modes
    cands = [g for g in grooves() if g.drums == drums]
    mood, g, tempo = _mood_groove(rng, cands, mode)
    prog = make_progression(rng, g.genre, mood.harmony, mode)
    own = ""
    if g.groove.startswith("@"):
        own = {"ambient": "ambient_pad"}.get(g.genre) or _pick(
            rng, ("waltz",) if g.meter == "3/4" else ("quartet", "harp") if g.meter == "6/8"
            else ("alberti", "quartet", "harp"))
    return _base(rng, cs, f"bench-{seed}-{subset}-{i:03d}", subset, i, g, mood, tempo, mode,
                 prog, own_style=own)


_USABLE: dict[int, tuple[list[str], list[int]]] = {}


def _usable_chorale(seed: int, i: int) -> str:
    """The i-th chorale with a clear key in a seeded order (scores are parsed only as needed)."""
    paths = chorale_paths()
    found, pos = _USABLE.setdefault(seed, ([], [0]))
    order = np.random.default_rng([PRESETS["bench"], seed, 77]).permutation(len(paths))
    while len(found) <= i and pos[0] < len(paths):
        path = paths[int(order[pos[0]])]
        pos[0] += 1
        if chorale_info(path) is not None:
            found.append(path)
    return found[i % len(found)]


def _plan_chorale(seed: int, i: int) -> ClipSpec:
    cs = _seed(seed, "chorales", i)
    rng = np.random.default_rng(cs)
    path = _usable_chorale(seed, i)
    info = chorale_info(path)
    assert info is not None
    tonic, mode, meter, quarters = info
    transpose = int(rng.integers(-5, 7))
    tempo = float(rng.integers(60, 97))
    length_s = quarters * 60.0 / tempo
    duration = float(round(min(rng.uniform(20.0, 30.0), length_s), 2))
    mood = next(m for m in MOODS if m.moods == (("tender",) if mode == 1 else ("sad",)))
    velocity = float(rng.uniform(0.6, 0.9))
    num = int(meter.split("/")[0])
    return ClipSpec(
        clip_id=f"bench-{seed}-chorales-{i:03d}", index=i, seed=cs, split="bench",
        genre="classical", moods=mood.moods, groove="@chorale", variant=path, extra="",
        own_style="chorale", meter=meter, mma_time=num, beats_per_tap=1.0, subdiv=2,
        tempo_bpm=tempo, key=(tonic + transpose) % 12, mode=mode, progression=((0, ""),),
        chords_per_bar=1, bars=max(1, math.ceil(duration / (num * 60.0 / tempo))),
        duration_s=duration, velocity=velocity, register=(36, 84), density="medium",
        articulation=float(rng.uniform(0.85, 1.0)), lead_program=int(_pick(rng, (40, 68, 73, 56))),
        remap_p=0.0, drop_drums=False, soundfont=ALL_FONTS[i % len(ALL_FONTS)],
        aug=_aug(rng, velocity), subset="chorales", transpose=transpose)


def _plan_hard(seed: int, i: int) -> ClipSpec:
    cs = _seed(seed, "hard", i)
    rng = np.random.default_rng(cs)
    kind = HARD_KINDS[i % len(HARD_KINDS)]
    cid = f"bench-{seed}-hard-{i:03d}"
    if kind in _TEMPO_KINDS:
        style, meter, time_, bpt, subdiv, (lo, hi) = _TEMPO_KINDS[kind]
        mode = int(rng.integers(2))
        mood = _pick(rng, [m for m in MOODS if mode in m.modes])
        genre = {"band_swing": "jazz", "band_fast": "rock", "band_128": "blues",
                 "band_half": "hiphop", "band_sync": "soul"}.get(style, "pop")
        g = next(x for x in grooves() if x.genre == "pop")  # placeholder; fields replaced below
        g = type(g)(f"@{style}", (), genre, meter, time_, bpt, subdiv, lo, hi, True, "")
        tempo = float(rng.integers(lo, hi + 1))
        fam = "bright" if mode == 1 else "sad"
        prog = tuple(_pick(rng, PROGRESSIONS[fam]))
        return _base(rng, cs, cid, "hard", i, g, mood, tempo, mode, prog, own_style=style,
                     hard_kind=kind, genre=genre)
    cands = [g for g in grooves() if g.drums and not g.groove.startswith("@")]
    mode = 1 if kind == "borrowed" else i % 2
    mood, g, tempo = _mood_groove(rng, cands, mode)
    prog = make_progression(rng, g.genre, mood.harmony, mode)
    extra: dict = {"hard_kind": kind}
    if kind == "borrowed":
        prog = tuple(_pick(rng, BORROWED))
    spec = _base(rng, cs, cid, "hard", i, g, mood, tempo, mode, prog, **extra)
    if kind == "modulation":
        from dataclasses import replace

        by = int(_pick(rng, (2, 5, 7, -2, 3, -5)))
        spec = replace(spec, modulate_bar=max(1, spec.bars // 2), modulate_by=by)
    elif kind == "avoid_tonic":
        from dataclasses import replace

        spec = replace(spec, avoid_tonic=True)
    elif kind == "detuned":
        from dataclasses import replace

        cents = float(rng.uniform(10, 30)) * (1 if rng.random() < 0.5 else -1)
        spec = replace(spec, detune_cents=round(cents, 1))
    return spec


def plan_bench(seed: int, n: int) -> list[ClipSpec]:
    """``n`` clips of each subset (a pure function of seed and n)."""
    out = []
    for i in range(n):
        out.append(_plan_groove_clip(seed, "with_drums", i, drums=True))
        out.append(_plan_groove_clip(seed, "without_drums", i, drums=False))
        out.append(_plan_chorale(seed, i))
        out.append(_plan_hard(seed, i))
    return out
