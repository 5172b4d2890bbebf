"""A generated corpus of what lands in real upload folders: good files and 17 kinds of bad input.

``build(root)`` writes it and returns ``{relative path: expected failure kind, or None when the file
must be catalogued}``. Everything is synthesised here (no downloads); the 2-hour file is 8 kHz mono
FLAC of low noise so it costs little disk and decode time.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import soundfile as sf

SR = 22050


def _tone(seconds: float, sr: int = SR, channels: int = 1, seed: int = 0) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    clicks = (np.sin(2 * np.pi * 2.0 * t) > 0.99).astype(np.float32)  # 120 BPM pulse
    y = 0.3 * np.sin(2 * np.pi * 440.0 * t) + 0.5 * clicks
    y = y + 0.01 * np.random.default_rng(seed).standard_normal(t.size)
    return np.repeat(y[:, None], channels, axis=1).astype(np.float32)


def _write_blocks(path: Path, y: np.ndarray, sr: int, fmt: str, subtype: str) -> None:
    # libsndfile can crash writing a long OGG in one call; blocks keep it safe for every format.
    # A file object, not a name: soundfile cannot encode non-UTF-8 names.
    with open(path, "wb") as fh, sf.SoundFile(fh, "w", sr, y.shape[1], format=fmt,
                                              subtype=subtype) as f:
        for i in range(0, len(y), 1 << 14):
            f.write(y[i : i + (1 << 14)])


def _truncate(path: Path, fraction: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])


def build(root: Path, *, long_hours: float = 2.0) -> dict[str, str | None]:
    root.mkdir(parents=True, exist_ok=True)
    out: dict[str, str | None] = {}

    def good(name: str, y: np.ndarray, sr: int = SR, fmt: str = "WAV", subtype: str = "PCM_16"):
        _write_blocks(root / name, y, sr, fmt, subtype)
        out[name] = None

    good("good.wav", _tone(6.0))  # 12 beats: a 3-s clip of 6 clicks is genuinely ambiguous (60 or 120)
    good("good.ogg", _tone(3.0, seed=1), fmt="OGG", subtype="VORBIS")
    good("good.mp3", _tone(3.0, seed=2), fmt="MP3", subtype="MPEG_LAYER_III")
    good("eight_channels.wav", _tone(2.0, channels=8, seed=3))
    good("sr8k.wav", _tone(2.0, sr=8000, seed=4), sr=8000)
    good("sr192k.wav", _tone(1.0, sr=192000, seed=5), sr=192000)
    good("silence.wav", np.zeros((SR * 2, 1), np.float32))
    good("one_ms.wav", _tone(0.001))
    good(os.fsdecode(b"caf\xe9-latin1.wav"), _tone(2.0, seed=6))  # non-UTF-8 file name
    (root / "album.wav").mkdir()  # a folder named like audio is walked into
    good("album.wav/inside.flac", _tone(2.0, seed=7), fmt="FLAC")
    n_long = int(long_hours * 3600 * 8000)
    with sf.SoundFile(root / "two_hours.flac", "w", 8000, 1, format="FLAC", subtype="PCM_16") as f:
        block = (0.01 * np.random.default_rng(8).standard_normal(8000 * 60)).astype(np.float32)
        for i in range(0, n_long, block.size):
            f.write(block[: min(block.size, n_long - i)])
    out["two_hours.flac"] = None

    (root / "empty.wav").write_bytes(b"")
    out["empty.wav"] = "empty"
    for name, fmt, subtype in (("truncated.mp3", "MP3", "MPEG_LAYER_III"),
                               ("truncated.ogg", "OGG", "VORBIS"),
                               ("truncated.flac", "FLAC", "PCM_16")):
        _write_blocks(root / name, _tone(4.0, seed=9), SR, fmt, subtype)
        _truncate(root / name)
        out[name] = "decode"
    (root / "random.mp3").write_bytes(np.random.default_rng(10).bytes(20000))
    out["random.mp3"] = "unsupported_format"
    (root / "text.wav").write_text("This is not audio.\n" * 50)
    out["text.wav"] = "unsupported_format"
    os.symlink("nowhere.wav", root / "broken_link.wav")
    out["broken_link.wav"] = "not_found"
    os.symlink("loop_b.wav", root / "loop_a.wav")
    os.symlink("loop_a.wav", root / "loop_b.wav")
    out["loop_a.wav"] = out["loop_b.wav"] = "symlink_loop"
    os.symlink(".", root / "folder_loop")  # a folder loop must not hang the walk
    nan = _tone(1.0)
    nan[100:200] = np.nan
    good("nan.wav", nan, subtype="FLOAT")
    out["nan.wav"] = "invalid_samples"
    if os.geteuid() != 0:  # root reads anything: the case cannot exist for it
        good("no_permission.wav", _tone(1.0))
        os.chmod(root / "no_permission.wav", 0)
        out["no_permission.wav"] = "permission"
    return out
