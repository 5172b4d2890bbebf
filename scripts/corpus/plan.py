"""The clip list: a pure function of (preset, seed, n).

Clip ``i`` depends only on (preset, seed, i), so ``--n 48`` is a prefix of ``--n 4000`` and the same
compositions can be re-rendered with any SoundFont.  Rendering choices (SoundFont, augmentation)
live in the spec too but never change the MIDI.
"""

from __future__ import annotations

import csv
import math
from dataclasses import asdict, dataclass, field, replace
from functools import lru_cache
from pathlib import Path

import numpy as np

from .theory import BLUES_MAJOR, BLUES_MINOR, KEY_NAMES, MOODS, PROGRESSIONS, Chord, jazzify

GROOVES_CSV = Path(__file__).with_name("grooves.csv")
PRESETS = {"train": 1, "bench": 2, "sample": 3, "drumless": 4, "blue": 5, "fast": 6, "anyregister": 7}
#: Genres whose major-key melodies lean on blue notes (preset ``blue``).
BLUE_GENRES = ("blues", "country", "jazz", "pop", "rock", "soul")
VOICINGS = ("", "low", "deep")  # the blue preset's accompaniment voicings (ClipSpec.voicing)
#: Genres played with drums at 170-260 BPM (preset ``fast``), and that tempo range.
FAST_GENRES = ("country", "electronic", "latin", "pop", "rock", "soul")
FAST_BPM = (170.0, 260.0)

# SoundFont keys by split.  Validation and test each use a font never used in training.
TRAIN_FONTS = ("fluidr3_gm", "fluidr3_gs", "fluidr3mono", "freepats")
VAL_FONTS = ("opl3",)
TEST_FONTS = ("csound",)
ALL_FONTS = TRAIN_FONTS + VAL_FONTS + TEST_FONTS

GENRE_LEADS: dict[str, tuple[int, ...]] = {
    "rock": (29, 30, 27, 81, 18), "pop": (80, 0, 73, 54, 11, 4, 26),
    "jazz": (65, 66, 56, 11, 0, 26, 57, 64), "blues": (22, 26, 27, 65, 29, 16),
    "country": (110, 105, 25, 22, 24), "folk": (24, 73, 110, 21, 75, 22, 25),
    "latin": (56, 73, 24, 11, 21, 114, 65), "reggae": (16, 65, 26, 56, 114),
    "electronic": (81, 80, 87, 90, 84, 98), "soul": (65, 66, 4, 16, 61, 52),
    "hiphop": (4, 11, 80, 48, 0, 5), "classical": (40, 42, 68, 71, 73, 0, 60, 46),
    "ambient": (88, 89, 91, 92, 94, 75, 98, 52),
}
_OWN_STYLES_BY_GENRE = {"ambient": ("ambient_pad",), "classical": ("alberti", "quartet", "harp", "waltz")}
_MINOR_FAMILIES = {"sad", "tense", "bittersweet", "drive_minor", "static_minor", "jazz_minor"}


@dataclass(frozen=True)
class Groove:
    groove: str
    variants: tuple[str, ...]
    genre: str
    meter: str
    mma_time: int
    beats_per_tap: float
    subdiv: int
    tempo_lo: int
    tempo_hi: int
    drums: bool
    extra: str


@lru_cache(maxsize=1)
def grooves() -> tuple[Groove, ...]:
    """The reviewed MMA-groove -> genre map (scripts/corpus/grooves.csv)."""
    with GROOVES_CSV.open(newline="") as f:
        return tuple(
            Groove(r["groove"], tuple(r["variants"].split()), r["genre"], r["meter"],
                   int(r["mma_time"]), float(r["beats_per_tap"]), int(r["subdiv"]),
                   int(r["tempo_lo"]), int(r["tempo_hi"]), r["drums"] == "1", r["extra"])
            for r in csv.DictReader(f))


def genres() -> tuple[str, ...]:
    return tuple(sorted({g.genre for g in grooves()}))


@dataclass(frozen=True)
class ClipSpec:
    """Everything needed to compose and render one clip, and its labels."""

    clip_id: str
    index: int
    seed: int
    split: str
    genre: str
    moods: tuple[str, ...]
    groove: str
    variant: str
    extra: str
    own_style: str
    meter: str
    mma_time: int
    beats_per_tap: float
    subdiv: int
    tempo_bpm: float  # the tapped beat
    key: int
    mode: int
    progression: tuple[Chord, ...]
    chords_per_bar: int
    bars: int
    duration_s: float
    velocity: float
    register: tuple[int, int]
    density: str
    articulation: float
    lead_program: int
    remap_p: float
    drop_drums: bool
    soundfont: str
    aug: dict[str, float] = field(default_factory=dict, hash=False)
    subset: str = ""
    modulate_bar: int = 10**6
    modulate_by: int = 0
    avoid_tonic: bool = False
    detune_cents: float = 0.0
    hard_kind: str = ""
    transpose: int = 0  # chorales: semitones applied to the score
    blue_notes: float = 0.0  # share of a major-key melody's notes bent to b3, b7 (or b5)
    #: the accompaniment's chords: as written (""), an octave down ("low"), or every chord tone
    #: folded into E2-D#3 ("deep": the third in the key model's bass register, under the melody)
    voicing: str = ""

    @property
    def mma_tempo(self) -> float:
        """Tempo of MMA's beat unit (the MIDI quarter note), BPM."""
        return self.tempo_bpm * self.beats_per_tap

    @property
    def key_name(self) -> str:
        return KEY_NAMES[self.key]

    @property
    def modulates(self) -> bool:
        return self.modulate_bar < self.bars and self.modulate_by != 0

    def with_soundfont(self, font: str) -> ClipSpec:
        return replace(self, soundfont=font)

    def to_dict(self) -> dict:
        return asdict(self)


def comp_seed(preset: str, seed: int, index: int) -> int:
    """The composition seed of clip ``index``; presets never share one."""
    return int(np.random.SeedSequence([PRESETS[preset], seed, index]).generate_state(1)[0])


def _pick(rng: np.random.Generator, seq):
    return seq[int(rng.integers(len(seq)))]


def _split(rng: np.random.Generator) -> tuple[str, str]:
    u = rng.random()
    if u < 0.8:
        return "train", _pick(rng, TRAIN_FONTS)
    if u < 0.9:
        return "val", _pick(rng, VAL_FONTS)
    return "test", _pick(rng, TEST_FONTS)


def _aug(rng: np.random.Generator, velocity: float) -> dict[str, float]:
    return {
        # mastered level: random, nudged a little by the mood's dynamics (as records are)
        "level_db": float(rng.uniform(-24, -14) + 6 * (velocity - 0.8)),
        "gain_db": float(rng.uniform(-4, 3)),
        "fluid_gain": float(rng.uniform(0.35, 0.8)),
        "eq_low_db": float(rng.uniform(-4, 4)) if rng.random() < 0.6 else 0.0,
        "eq_high_db": float(rng.uniform(-6, 4)) if rng.random() < 0.6 else 0.0,
        "reverb_wet": float(rng.uniform(0.05, 0.35)) if rng.random() < 0.5 else 0.0,
        "reverb_s": float(rng.uniform(0.4, 2.5)),
        "noise_db": float(rng.uniform(-65, -42)) if rng.random() < 0.35 else -120.0,
        "compress": float(rng.uniform(0.2, 0.7)) if rng.random() < 0.4 else 0.0,
    }


def make_progression(rng: np.random.Generator, genre: str, families: tuple[str, ...],
                     mode: int) -> tuple[Chord, ...]:
    if genre == "blues" and rng.random() < 0.8:
        return BLUES_MAJOR if mode == 1 else BLUES_MINOR
    fams = [f for f in families if (f in _MINOR_FAMILIES) == (mode == 0)] or list(families)
    fam = _pick(rng, fams)
    if genre == "jazz" and rng.random() < 0.5:
        fam = "jazz_major" if mode == 1 else "jazz_minor"
    prog = _pick(rng, PROGRESSIONS[fam])
    if genre in ("jazz", "soul") and rng.random() < 0.6:
        prog = tuple(jazzify(c) for c in prog)
    return tuple(prog)


def plan_clip(preset: str, seed: int, index: int) -> ClipSpec:
    """The spec of clip ``index`` of a training-style corpus (all genres, all moods).

    Preset ``drumless`` plans the same way but only with the moods that allow fast tempi (happy,
    energetic, tense) and never keeps drums: in ``train`` only the quiet moods drop them, so fast
    drumless playing (gypsy jazz, two-beat country, fast classical) is almost absent there, while
    listeners still tap its beat.

    Preset ``blue`` plans the ``BLUE_GENRES`` only, and gives 15-50 % of a major-key melody's notes
    the minor third, flat seventh or flat fifth (issue 17): a blues singer's or guitarist's line
    over major harmony, which is still a major key. The other presets' melodies never do this,
    so the key model read such records as the parallel minor. A third of its clips voice the
    accompaniment's chords an octave down, a third fold them into E2-D#3 (``VOICINGS``): the
    chord's major third in the bass register, the melody's blue third above it, as a left-hand
    piano or a low guitar comps under a singer. Its melodies take any mood's register, whatever
    the mode: elsewhere minor moods sing ~10 semitones lower than major ones, and the key model
    learned to hear low music as minor (the test blues with blue notes: 0 of 12 tonics major as
    written or an octave down, 5 of 12 an octave up; docs/BENCHMARKS.md, session 12). ``corpus/blue5`` was rendered at e78b066, before
    any of this, ``corpus/blue7`` at bcf16b0 ("low" on half its clips, no "deep", moods' registers).

    Preset ``anyregister`` plans as ``train`` does, but like ``blue`` draws the melody's register
    from every mood's, whatever the mode.

    Preset ``fast`` plays the drum grooves of ``FAST_GENRES`` (4/4, beat = the written quarter) at
    170-260 BPM, each beat a kick or a snare as in J-pop, punk or drum'n'bass: the other presets
    keep a groove within its natural range, so 2 % of their clips are at 190 BPM or more, against
    20 % of the real charts, where the tempo model's octave errors are (issue 17; fine-tuning on
    this preset did not help, docs/BENCHMARKS.md session 11).
    """
    cs = comp_seed(preset, seed, index)
    rng = np.random.default_rng(cs)
    gs = {"blue": BLUE_GENRES, "fast": FAST_GENRES}.get(preset) or genres()
    block = np.random.default_rng([PRESETS[preset], seed, index // len(gs), 99]).permutation(len(gs))
    genre = gs[int(block[index % len(gs)])]
    split, font = _split(rng)
    cands = [g for g in grooves() if g.genre == genre]
    if preset == "fast":
        cands = [g for g in cands if g.drums and g.meter == "4/4" and g.beats_per_tap == 1 and g.tempo_hi >= 120]
    moods = MOODS if preset not in ("drumless", "fast") else tuple(m for m in MOODS if m.tempo_window[1] >= 180)
    for _ in range(100):
        mood = _pick(rng, moods)
        lo, hi = mood.tempo_window
        fits = [g for g in cands if g.tempo_lo <= hi and g.tempo_hi >= lo]
        if fits:
            break
    g = _pick(rng, fits)
    a, b = max(g.tempo_lo, lo), min(g.tempo_hi, hi)
    u = rng.uniform(*mood.tempo_pos)
    tempo = float(round(a + u * (b - a)))
    if preset == "fast":
        tempo = float(round(rng.uniform(*FAST_BPM)))
    mode = int(_pick(rng, mood.modes))
    prog = make_progression(rng, genre, mood.harmony, mode)
    bar_s = g.mma_time * 60.0 / (tempo * g.beats_per_tap)
    duration = float(round(rng.uniform(10.0, 24.0), 2))
    slow_bars = bar_s > 2.2 and rng.random() < 0.3
    cpb = 2 if (genre == "jazz" and rng.random() < 0.4) or slow_bars else 1
    if len(prog) == 12:  # a blues chorus keeps one chord per bar
        cpb = 1
    own = _pick(rng, _OWN_STYLES_BY_GENRE.get(genre, ("",))) if g.groove.startswith("@") else ""
    if own == "waltz" and g.meter != "3/4":
        own = "quartet"
    if own == "alberti" and g.meter == "6/8":
        own = "harp"
    leads = GENRE_LEADS[genre] if genre in ("classical", "ambient") or rng.random() < 0.6 \
        else mood.leads
    velocity = float(rng.uniform(*mood.velocity))
    # drawn last, so that every other preset's plan is unchanged
    blue = float(rng.uniform(0.15, 0.5)) if preset == "blue" and mode == 1 else 0.0
    voicing = str(_pick(rng, VOICINGS)) if preset == "blue" else ""
    free = preset in ("blue", "anyregister")
    register = _pick(rng, sorted({m.register for m in MOODS})) if free else mood.register
    return ClipSpec(
        clip_id=f"{preset}-{seed}-{index:05d}", index=index, seed=cs, split=split, genre=genre,
        moods=mood.moods, groove=g.groove, variant=_pick(rng, (g.groove,) + g.variants),
        extra=g.extra, own_style=own, meter=g.meter, mma_time=g.mma_time,
        beats_per_tap=g.beats_per_tap, subdiv=g.subdiv, tempo_bpm=tempo,
        key=int(rng.integers(12)), mode=mode, progression=prog, chords_per_bar=cpb,
        bars=max(2, math.ceil(duration / bar_s)), duration_s=duration,
        velocity=velocity, register=register,
        density=mood.density, articulation=float(rng.uniform(*mood.articulation)),
        lead_program=int(_pick(rng, leads)), remap_p=0.6 if rng.random() < 0.5 else 0.0,
        drop_drums=g.drums and preset != "fast" and (preset == "drumless" or rng.random() > mood.drums_keep),
        soundfont=font, aug=_aug(rng, velocity), blue_notes=blue, voicing=voicing,
    )


def plan_clips(preset: str, seed: int, n: int) -> list[ClipSpec]:
    """The first ``n`` clips of ``preset`` for ``seed`` (a pure function)."""
    if preset == "bench":
        from .bench import plan_bench

        return plan_bench(seed, n)
    if preset == "sample":
        from .sample import plan_sample

        return plan_sample(seed)[:n]
    return [plan_clip(preset, seed, i) for i in range(n)]
