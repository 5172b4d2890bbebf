"""One clip, end to end (runs in a worker process): compose -> synthesize -> augment -> FLAC."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from .compose import compose
from .plan import ClipSpec
from .render import augment, finish, font_for, synthesize, write_flac


def clip_paths(spec: ClipSpec) -> tuple[str, str]:
    """Audio and MIDI paths, relative to the corpus root."""
    return f"audio/{spec.split}/{spec.clip_id}.flac", f"midi/{spec.clip_id}.mid"


def render_clip(spec: ClipSpec, root: Path, augmented: bool = True) -> dict:
    """Render ``spec`` under ``root``; returns its manifest row (plus timing fields)."""
    t0 = time.perf_counter()
    audio_rel, midi_rel = clip_paths(spec)
    font = font_for(spec.soundfont)
    midi_path = root / midi_rel
    midi_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="clip_") as td:
        tmp_mid = Path(td) / "clip.mid"
        comp = compose(spec, tmp_mid)
        y = synthesize(tmp_mid, font, gain=spec.aug.get("fluid_gain", 0.6), seconds=spec.duration_s)
        midi_bytes = tmp_mid.read_bytes()
    if float(abs(y).max()) < 1e-4:
        raise RuntimeError(f"{spec.clip_id}: the render is silent with {font.name}")
    if augmented:
        y = augment(y, spec.aug, spec.seed)
    y = finish(y, spec.duration_s, spec.aug.get("level_db"))
    tmp = midi_path.with_suffix(".mid.tmp")
    tmp.write_bytes(midi_bytes)
    tmp.replace(midi_path)
    write_flac(root / audio_rel, y)
    return {
        "clip_id": spec.clip_id, "path": audio_rel, "genre": spec.genre,
        "moods": ";".join(spec.moods), "tempo_bpm": f"{spec.tempo_bpm:g}", "meter": spec.meter,
        "key": spec.key, "key_name": spec.key_name, "mode": spec.mode,
        "instruments": ";".join(comp.instruments), "soundfont": font.name, "synth": font.synth,
        "seed": spec.seed, "split": spec.split, "duration_s": f"{spec.duration_s:g}",
        "has_drums": int(comp.has_drums), "groove": spec.variant, "subset": spec.subset,
        "modulates": int(spec.modulates) if spec.subset else "", "hard_kind": spec.hard_kind,
        "_seconds": time.perf_counter() - t0,
    }
