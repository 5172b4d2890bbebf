"""Music theory tables: keys, chords, progressions, General MIDI programs and the mood controls.

Every label the corpus carries comes from these tables and the MIDI we write, never from an estimator.
"""

from __future__ import annotations

from dataclasses import dataclass

KEY_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
# MMA chord roots: flats where a musician would write them, so MMA's own voicings read naturally.
MMA_ROOTS = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")

MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)
MINOR_SCALE = (0, 2, 3, 5, 7, 8, 10)  # natural minor; the leading tone comes in through V/V7 chords

# Chord quality -> semitones above the root (what our own composers voice; MMA voices its own).
QUALITIES: dict[str, tuple[int, ...]] = {
    "": (0, 4, 7),
    "m": (0, 3, 7),
    "7": (0, 4, 7, 10),
    "maj7": (0, 4, 7, 11),
    "m7": (0, 3, 7, 10),
    "dim": (0, 3, 6),
    "dim7": (0, 3, 6, 9),
    "m7b5": (0, 3, 6, 10),
    "sus4": (0, 5, 7),
    "add9": (0, 4, 7, 14),
    "6": (0, 4, 7, 9),
    "m6": (0, 3, 7, 9),
    "aug": (0, 4, 8),
    "7b9": (0, 4, 7, 10, 13),
    "m9": (0, 3, 7, 10, 14),
}

Chord = tuple[int, str]  # (semitones above the tonic, quality)

# Progressions as (degree offset from the tonic, quality).  Named families are chosen by mood.
_M = {
    "I": (0, ""), "ii": (2, "m"), "iii": (4, "m"), "IV": (5, ""), "V": (7, ""), "vi": (9, "m"),
    "bVII": (10, ""), "bVI": (8, ""), "bIII": (3, ""), "iv": (5, "m"), "V7": (7, "7"),
    "Imaj7": (0, "maj7"), "IVmaj7": (5, "maj7"), "ii7": (2, "m7"), "iii7": (4, "m7"),
    "vi7": (9, "m7"), "Iadd9": (0, "add9"), "IVadd9": (5, "add9"), "I6": (0, "6"),
    "Vsus4": (7, "sus4"), "II7": (2, "7"), "I7": (0, "7"), "IV7": (5, "7"),
    # minor-key degrees
    "i": (0, "m"), "v": (7, "m"), "III": (3, ""), "VI": (8, ""), "VII": (10, ""),
    "bII": (1, ""), "viidim": (11, "dim"), "viidim7": (11, "dim7"), "iim7b5": (2, "m7b5"),
    "i7": (0, "m7"), "iv7": (5, "m7"), "v7": (7, "m7"), "VImaj7": (8, "maj7"),
    "IIImaj7": (3, "maj7"), "IVdom7": (5, "7"), "im6": (0, "m6"), "V7b9": (7, "7b9"),
    "bIIdim": (1, "dim"), "iv6": (5, "m6"), "VIaug": (8, "aug"), "i9": (0, "m9"),
}


def _p(*names: str) -> tuple[Chord, ...]:
    return tuple(_M[n] for n in names)


PROGRESSIONS: dict[str, tuple[tuple[Chord, ...], ...]] = {
    "bright": (
        _p("I", "V", "vi", "IV"), _p("I", "IV", "V", "I"), _p("I", "vi", "IV", "V"),
        _p("I", "IV", "I", "V"), _p("IV", "I", "V", "vi"), _p("I", "V", "IV", "V"),
        _p("I", "iii", "IV", "V"), _p("I", "ii", "V", "I"), _p("I", "IV", "vi", "V"),
    ),
    "sad": (
        _p("i", "VI", "III", "VII"), _p("i", "iv", "v", "i"), _p("i", "VI", "iv", "v"),
        _p("i", "iv", "VII", "III"), _p("i", "VII", "VI", "VII"), _p("i", "iv", "i", "V"),
        _p("i", "VI", "III", "iv"), _p("i", "v", "iv", "i"),
    ),
    "drive_major": (
        _p("I", "bVII", "IV", "I"), _p("I", "IV", "V", "IV"), _p("I", "V", "vi", "IV"),
        _p("I", "bVI", "bVII", "I"), _p("I", "I", "IV", "V"),
    ),
    "drive_minor": (
        _p("i", "VII", "VI", "VII"), _p("i", "VI", "VII", "i"), _p("i", "iv", "VII", "i"),
        _p("i", "i", "VI", "VII"), _p("i", "III", "VII", "iv"),
    ),
    "static_major": (
        _p("Imaj7", "IVmaj7"), _p("I", "IV"), _p("Imaj7", "ii7"), _p("Iadd9", "IVadd9"),
        _p("Imaj7", "vi7"), _p("I6", "IVmaj7"),
    ),
    "static_minor": (_p("i7", "IVdom7"), _p("i7", "iv7"), _p("i9", "VImaj7"), _p("i", "VII")),
    "tense": (
        _p("i", "bII", "i", "V7"), _p("i", "iim7b5", "V7b9", "i"), _p("i", "VI", "bII", "V7"),
        _p("i", "iv", "viidim7", "i"), _p("i", "bIIdim", "i", "viidim"), _p("i", "VIaug", "iv6", "V7"),
    ),
    "tender": (
        _p("Imaj7", "vi7", "ii7", "V7"), _p("Imaj7", "IVmaj7", "iii7", "vi7"),
        _p("I", "iii", "IV", "V"), _p("Iadd9", "vi7", "IVmaj7", "Vsus4"),
        _p("IVmaj7", "iii7", "ii7", "Imaj7"), _p("I", "vi7", "IVmaj7", "V"),
    ),
    "bittersweet": (
        _p("i7", "VImaj7", "iv7", "V7"), _p("i", "VImaj7", "IIImaj7", "v7"),
        _p("im6", "iv7", "VImaj7", "V"), _p("i9", "iv7", "VII", "IIImaj7"),
    ),
    "jazz_major": (
        _p("ii7", "V7", "Imaj7", "Imaj7"), _p("Imaj7", "vi7", "ii7", "V7"),
        _p("iii7", "vi7", "ii7", "V7"), _p("Imaj7", "II7", "ii7", "V7"),
    ),
    "jazz_minor": (_p("iim7b5", "V7b9", "i7", "i7"), _p("i7", "iv7", "iim7b5", "V7")),
}

BLUES_MAJOR = _p("I7", "IV7", "I7", "I7", "IV7", "IV7", "I7", "I7", "V7", "IV7", "I7", "V7")
BLUES_MINOR = _p("i7", "iv7", "i7", "i7", "iv7", "iv7", "i7", "i7", "VI", "V7", "i7", "V7")


def jazzify(chord: Chord) -> Chord:
    """Give a triad its jazz seventh (major -> maj7/6, minor -> m7, V -> 7)."""
    off, q = chord
    if q == "":
        return (off, "7" if off == 7 else "maj7")
    if q == "m":
        return (off, "m7")
    return chord


def mma_chord(tonic: int, chord: Chord) -> str:
    """MMA chord name of ``chord`` in the key whose tonic pitch class is ``tonic``."""
    off, q = chord
    return MMA_ROOTS[(tonic + off) % 12] + q


# --- moods --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MoodControls:
    """The musical controls that make a mood (documented in docs/DATA.md).

    tempo_window is in tapped BPM; a groove is used only if its natural range meets it.
    velocity scales every note velocity; register is the melody's MIDI pitch range;
    density picks the melody's rhythm vocabulary; articulation is the fraction of a note's
    written length that sounds (staccato < 0.7 < legato).
    """

    moods: tuple[str, ...]
    modes: tuple[int, ...]
    tempo_window: tuple[float, float]
    tempo_pos: tuple[float, float]
    velocity: tuple[float, float]
    register: tuple[int, int]
    density: str
    articulation: tuple[float, float]
    harmony: tuple[str, ...]
    drums_keep: float
    leads: tuple[int, ...] = ()


MOODS: tuple[MoodControls, ...] = (
    MoodControls(("happy",), (1,), (95, 200), (0.45, 0.9), (0.85, 1.0), (67, 88), "medium",
                 (0.55, 0.8), ("bright",), 1.0, (73, 80, 11, 56, 9, 22, 105)),
    MoodControls(("sad",), (0,), (40, 100), (0.0, 0.4), (0.55, 0.72), (55, 74), "sparse",
                 (0.92, 1.0), ("sad",), 0.6, (42, 40, 71, 0, 69, 48)),
    MoodControls(("energetic",), (1, 0), (118, 220), (0.7, 1.0), (0.98, 1.12), (62, 84), "dense",
                 (0.5, 0.8), ("drive_major", "drive_minor"), 1.0, (30, 29, 81, 61, 56, 84)),
    MoodControls(("calm",), (1, 0), (40, 100), (0.0, 0.35), (0.45, 0.62), (60, 79), "sparse",
                 (0.95, 1.0), ("static_major", "static_minor"), 0.35, (73, 88, 89, 75, 11, 79)),
    MoodControls(("tense",), (0,), (60, 180), (0.35, 0.85), (0.75, 0.95), (46, 70), "chromatic",
                 (0.45, 0.9), ("tense",), 0.8, (44, 42, 57, 60, 70, 95)),
    MoodControls(("tender",), (1,), (50, 112), (0.1, 0.45), (0.55, 0.75), (64, 82), "sparse",
                 (0.9, 1.0), ("tender",), 0.5, (24, 0, 73, 40, 46, 11)),
    MoodControls(("happy", "energetic"), (1,), (118, 220), (0.7, 1.0), (0.95, 1.1), (67, 88),
                 "dense", (0.5, 0.75), ("bright", "drive_major"), 1.0, (80, 56, 61, 30, 105)),
    MoodControls(("sad", "calm"), (0,), (40, 90), (0.0, 0.3), (0.45, 0.6), (55, 72), "sparse",
                 (0.95, 1.0), ("sad", "static_minor"), 0.3, (42, 89, 71, 0, 92)),
    MoodControls(("calm", "tender"), (1,), (45, 100), (0.0, 0.35), (0.45, 0.62), (62, 80), "sparse",
                 (0.95, 1.0), ("tender", "static_major"), 0.3, (24, 0, 73, 46, 88)),
    MoodControls(("tense", "energetic"), (0,), (118, 220), (0.7, 1.0), (0.95, 1.12), (48, 72),
                 "chromatic", (0.45, 0.7), ("tense", "drive_minor"), 1.0, (30, 29, 61, 81, 44)),
    MoodControls(("sad", "tender"), (0,), (45, 105), (0.05, 0.4), (0.55, 0.72), (60, 78), "sparse",
                 (0.92, 1.0), ("bittersweet",), 0.5, (40, 42, 0, 24, 71)),
)
MOOD_NAMES = ("happy", "sad", "energetic", "calm", "tense", "tender")


# --- General MIDI ------------------------------------------------------------------------------
GM_NAMES = (
    "Acoustic Grand Piano", "Bright Acoustic Piano", "Electric Grand Piano", "Honky-tonk Piano",
    "Electric Piano 1", "Electric Piano 2", "Harpsichord", "Clavinet", "Celesta", "Glockenspiel",
    "Music Box", "Vibraphone", "Marimba", "Xylophone", "Tubular Bells", "Dulcimer",
    "Drawbar Organ", "Percussive Organ", "Rock Organ", "Church Organ", "Reed Organ", "Accordion",
    "Harmonica", "Tango Accordion", "Acoustic Guitar (nylon)", "Acoustic Guitar (steel)",
    "Electric Guitar (jazz)", "Electric Guitar (clean)", "Electric Guitar (muted)",
    "Overdriven Guitar", "Distortion Guitar", "Guitar Harmonics", "Acoustic Bass",
    "Electric Bass (finger)", "Electric Bass (pick)", "Fretless Bass", "Slap Bass 1",
    "Slap Bass 2", "Synth Bass 1", "Synth Bass 2", "Violin", "Viola", "Cello", "Contrabass",
    "Tremolo Strings", "Pizzicato Strings", "Orchestral Harp", "Timpani", "String Ensemble 1",
    "String Ensemble 2", "Synth Strings 1", "Synth Strings 2", "Choir Aahs", "Voice Oohs",
    "Synth Voice", "Orchestra Hit", "Trumpet", "Trombone", "Tuba", "Muted Trumpet", "French Horn",
    "Brass Section", "Synth Brass 1", "Synth Brass 2", "Soprano Sax", "Alto Sax", "Tenor Sax",
    "Baritone Sax", "Oboe", "English Horn", "Bassoon", "Clarinet", "Piccolo", "Flute", "Recorder",
    "Pan Flute", "Blown Bottle", "Shakuhachi", "Whistle", "Ocarina", "Lead 1 (square)",
    "Lead 2 (sawtooth)", "Lead 3 (calliope)", "Lead 4 (chiff)", "Lead 5 (charang)",
    "Lead 6 (voice)", "Lead 7 (fifths)", "Lead 8 (bass + lead)", "Pad 1 (new age)", "Pad 2 (warm)",
    "Pad 3 (polysynth)", "Pad 4 (choir)", "Pad 5 (bowed)", "Pad 6 (metallic)", "Pad 7 (halo)",
    "Pad 8 (sweep)", "FX 1 (rain)", "FX 2 (soundtrack)", "FX 3 (crystal)", "FX 4 (atmosphere)",
    "FX 5 (brightness)", "FX 6 (goblins)", "FX 7 (echoes)", "FX 8 (sci-fi)", "Sitar", "Banjo",
    "Shamisen", "Koto", "Kalimba", "Bagpipe", "Fiddle", "Shanai", "Tinkle Bell", "Agogo",
    "Steel Drums", "Woodblock", "Taiko Drum", "Melodic Tom", "Synth Drum", "Reverse Cymbal",
    "Guitar Fret Noise", "Breath Noise", "Seashore", "Bird Tweet", "Telephone Ring", "Helicopter",
    "Applause", "Gunshot",
)
assert len(GM_NAMES) == 128

# Programs a family-preserving remap may swap between (sound effects are never chosen).
GM_FAMILIES: tuple[tuple[int, ...], ...] = (
    (0, 1, 2, 3, 4, 5, 6, 7), (8, 9, 10, 11, 12, 13, 14, 15), (16, 17, 18, 19, 20, 21, 22, 23),
    (24, 25, 26, 27, 28), (29, 30), (32, 33, 34, 35, 36, 37, 38, 39), (40, 41, 42, 43, 45, 46),
    (44, 48, 49, 50, 51), (52, 53, 54), (56, 57, 58, 59, 60, 61, 62, 63),
    (64, 65, 66, 67, 68, 69, 70, 71), (72, 73, 74, 75, 76, 77, 78, 79),
    (80, 81, 82, 83, 84, 85, 86, 87), (88, 89, 90, 91, 92, 93, 94, 95),
    (104, 105, 106, 107, 108, 109, 110, 111), (112, 113, 114, 115),
)


def family_of(program: int) -> tuple[int, ...]:
    for fam in GM_FAMILIES:
        if program in fam:
            return fam
    return (program,)
