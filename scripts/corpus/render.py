"""MIDI -> 44.1 kHz FLAC with FluidSynth (SoundFonts) or TiMidity++ (freepats), plus light augmentation.

Only the Debian SoundFonts below are used by default.  ``--soundfont PATH`` renders with any other
font, so the same compositions can be re-rendered elsewhere; a ``.cfg`` path means TiMidity++.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import mido
import numpy as np
import soundfile as sf
from scipy import signal

SR = 44100


class CorpusError(RuntimeError):
    """A problem the user can fix (missing tool or font, full disk); the message says how."""


@dataclass(frozen=True)
class Font:
    key: str
    paths: tuple[str, ...]  # FluidSynth stacks them: the last one loaded wins where both define a preset
    package: str
    licence: str
    synth: str = "fluidsynth"

    @property
    def name(self) -> str:
        return "+".join(Path(p).name for p in self.paths)


FONTS: dict[str, Font] = {f.key: f for f in (
    Font("fluidr3_gm", ("/usr/share/sounds/sf2/FluidR3_GM.sf2",), "fluid-soundfont-gm", "MIT"),
    Font("fluidr3_gs", ("/usr/share/sounds/sf2/FluidR3_GM.sf2", "/usr/share/sounds/sf2/FluidR3_GS.sf2"),
         "fluid-soundfont-gs", "MIT"),
    Font("fluidr3mono", ("/usr/share/sounds/sf3/FluidR3Mono_GM.sf3",), "fluidr3mono-gm-soundfont",
         "MIT"),
    Font("freepats", ("/etc/timidity/freepats.cfg",), "freepats", "GPL-2+ with a rendering exception",
         synth="timidity"),
    Font("opl3", ("/usr/share/sounds/sf2/OPL-3_FM_128M.sf2",), "opl3-soundfont",
         "CC-BY-SA-4.0"),
    Font("csound", ("/usr/share/sounds/sf2/sf_GMbank.sf2",), "csound-soundfont", "LGPL-2.1+"),
)}
_TOOL_PACKAGES = {"fluidsynth": "fluidsynth", "mma": "mma", "timidity": "timidity"}


def which_or_die(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise CorpusError(f"`{tool}` was not found on PATH; install it with: "
                          f"sudo apt-get install -y {_TOOL_PACKAGES.get(tool, tool)}")
    return path


def font_for(key_or_path: str) -> Font:
    """A known font by key, or any user font by path (a .cfg path selects TiMidity++)."""
    if key_or_path in FONTS:
        font = FONTS[key_or_path]
    else:
        p = Path(key_or_path)
        font = Font(p.stem, (str(p),), "(user supplied)", "(see the font's own licence)",
                    synth="timidity" if p.suffix == ".cfg" else "fluidsynth")
    for path in font.paths:
        if not Path(path).is_file():
            hint = (f"install it with: sudo apt-get install -y {font.package}"
                    if font.package != "(user supplied)" else "check the path")
            raise CorpusError(f"{path}: SoundFont not found; {hint}")
    return font


def check_tools(fonts: list[Font], need_mma: bool = True) -> None:
    """Fail early, with the install command, if a needed program is missing."""
    if need_mma:
        which_or_die("mma")
    for synth in {f.synth for f in fonts}:
        which_or_die(synth)


@lru_cache(maxsize=4)
def _timidity_programs(cfg: str) -> tuple[int, ...]:
    """Melodic programs a TiMidity++ config defines in bank 0 (freepats lacks about 50)."""
    text = Path(cfg).read_text(errors="replace")
    m = re.search(r"^\s*bank\s+0\s*$(.*?)(^\s*(bank|drumset)\s|\Z)", text, re.M | re.S)
    body = m.group(1) if m else ""
    return tuple(sorted({int(x) for x in re.findall(r"^\s*(\d+)\s", body, re.M)})) or tuple(range(128))


def _nearest_program(prog: int, have: tuple[int, ...]) -> int:
    fam = [p for p in have if p // 8 == prog // 8]
    pool = fam or list(have)
    return min(pool, key=lambda p: abs(p - prog))


def _remap_for_timidity(mid_path: Path, out: Path, cfg: str) -> None:
    have = _timidity_programs(cfg)
    mid = mido.MidiFile(mid_path)
    for tr in mid.tracks:
        for i, m in enumerate(tr):
            if m.type == "program_change" and m.channel != 9 and m.program not in have:
                tr[i] = m.copy(program=_nearest_program(m.program, have))
    mid.save(out)


_SYNTHS: dict[str, object] = {}


def _fluid_synth(font: Font):
    """One libfluidsynth instance per font and process: loading a font costs more than a clip."""
    if font.key not in _SYNTHS:
        import fluidsynth

        synth = fluidsynth.Synth(samplerate=float(SR))
        for path in font.paths:
            if synth.sfload(path) < 0:
                raise CorpusError(f"{path}: FluidSynth could not load this SoundFont")
        _SYNTHS[font.key] = synth
    return _SYNTHS[font.key]


def _render_fluid(mid_path: Path, font: Font, gain: float, seconds: float) -> np.ndarray:
    synth = _fluid_synth(font)
    synth.system_reset()
    synth.setting("synth.gain", float(gain))
    total = int(round(seconds * SR))
    chunks, pos, now = [], 0, 0.0
    for msg in mido.MidiFile(mid_path):  # merged tracks, msg.time in seconds
        now += msg.time
        target = min(int(round(now * SR)), total)
        if target > pos:
            chunks.append(synth.get_samples(target - pos))
            pos = target
        if pos >= total:
            break
        kind = msg.type
        if kind == "note_on" and msg.velocity > 0:
            synth.noteon(msg.channel, msg.note, msg.velocity)
        elif kind in ("note_on", "note_off"):
            synth.noteoff(msg.channel, msg.note)
        elif kind == "program_change":
            synth.program_change(msg.channel, msg.program)
        elif kind == "control_change":
            synth.cc(msg.channel, msg.control, msg.value)
        elif kind == "pitchwheel":
            synth.pitch_bend(msg.channel, msg.pitch)
    if total > pos:
        chunks.append(synth.get_samples(total - pos))
    for ch in range(16):
        synth.all_sounds_off(ch)
    synth.get_samples(SR)  # let the reverb tail die so it cannot leak into the next clip
    y = np.concatenate(chunks).astype(np.float32).reshape(-1, 2) / 32768.0
    return y


def synthesize(mid_path: Path, font: Font, gain: float = 0.6, seconds: float | None = None,
               ) -> np.ndarray:
    """Render ``mid_path`` to float32 stereo [n, 2] at 44.1 kHz (``seconds`` long if given)."""
    if font.synth == "fluidsynth" and seconds is not None:
        try:
            return _render_fluid(mid_path, font, gain, seconds)
        except ImportError:  # no pyfluidsynth: fall back to the command line
            pass
    with tempfile.TemporaryDirectory(prefix="synth_") as td:
        wav = Path(td) / "out.wav"
        if font.synth == "timidity":
            remapped = Path(td) / "in.mid"
            _remap_for_timidity(mid_path, remapped, font.paths[0])
            cmd = [which_or_die("timidity"), "-c", font.paths[0], "-Ow", "-o", str(wav),
                   "-s", str(SR), "--quiet=2", f"--volume={int(gain * 160)}", str(remapped)]
        else:
            cmd = [which_or_die("fluidsynth"), "-ni", "-q", "-F", str(wav), "-r", str(SR),
                   "-g", f"{gain:.3f}", *font.paths, str(mid_path)]
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        if res.returncode != 0 or not wav.exists():
            raise RuntimeError(f"{font.synth} failed: {(res.stderr or res.stdout)[-400:]}")
        y, sr = sf.read(wav, dtype="float32", always_2d=True)
    if y.shape[1] == 1:
        y = np.repeat(y, 2, axis=1)
    return y[:, :2]


# --- augmentation ---------------------------------------------------------------------------------
def _shelves(y: np.ndarray, low_db: float, high_db: float) -> np.ndarray:
    if low_db:
        lo = signal.sosfilt(signal.butter(2, 250, "low", fs=SR, output="sos"), y, axis=0)
        y = y + (10 ** (low_db / 20) - 1) * lo
    if high_db:
        hi = signal.sosfilt(signal.butter(2, 4000, "high", fs=SR, output="sos"), y, axis=0)
        y = y + (10 ** (high_db / 20) - 1) * hi
    return y


def _reverb(y: np.ndarray, wet: float, rt60: float, rng: np.random.Generator) -> np.ndarray:
    n = int(rt60 * SR)
    t = np.arange(n) / SR
    ir = rng.standard_normal((n, 2)) * np.exp(-6.9 * t / rt60)[:, None]
    ir /= np.sqrt((ir**2).sum(axis=0, keepdims=True))
    tail = signal.fftconvolve(y, ir, axes=0)[: len(y)]
    return (1 - wet) * y + wet * tail


def _compress(y: np.ndarray, amount: float) -> np.ndarray:
    ratio = 1 + 3 * amount
    win = int(0.03 * SR)
    power = signal.fftconvolve((y**2).mean(axis=1), np.ones(win) / win, mode="same")
    env_db = 10 * np.log10(np.maximum(power, 1e-10))
    thr = env_db.max() - 12
    gain_db = np.where(env_db > thr, (thr - env_db) * (1 - 1 / ratio), 0.0)
    return y * (10 ** (gain_db / 20))[:, None]


def augment(y: np.ndarray, aug: dict[str, float], seed: int) -> np.ndarray:
    """Gain, shelving EQ, synthetic-room reverb, hiss and mild compression (all light)."""
    rng = np.random.default_rng([seed, 21])
    y = _shelves(y, aug.get("eq_low_db", 0.0), aug.get("eq_high_db", 0.0))
    if aug.get("reverb_wet", 0.0) > 0:
        y = _reverb(y, aug["reverb_wet"], aug.get("reverb_s", 1.0), rng)
    if aug.get("compress", 0.0) > 0:
        y = _compress(y, aug["compress"])
    y = y * 10 ** (aug.get("gain_db", 0.0) / 20)
    if aug.get("noise_db", -120.0) > -100:
        noise = signal.lfilter([1.0], [1.0, -0.95], rng.standard_normal(y.shape), axis=0)
        noise *= 10 ** (aug["noise_db"] / 20) / (noise.std() + 1e-12)
        y = y + noise
    return y


def finish(y: np.ndarray, duration_s: float, level_db: float | None = None) -> np.ndarray:
    """Cut or pad to ``duration_s``, fade the last 0.3 s, master to ``level_db`` RMS (dBFS).

    Mastering to a level keeps loudness from being a free label: synth gain and velocity alone
    would make quiet moods 20 dB quieter than on any real record.  Peaks over 0.9 are soft-limited.
    """
    n = int(round(duration_s * SR))
    y = y[:n] if len(y) >= n else np.pad(y, ((0, n - len(y)), (0, 0)))
    fade = int(0.3 * SR)
    y[-fade:] *= np.linspace(1.0, 0.0, fade)[:, None]
    if level_db is not None:
        rms = float(np.sqrt(np.mean(y**2)))
        if rms > 1e-6:
            y = y * (10 ** (level_db / 20) / rms)
    over = np.abs(y) > 0.9
    if over.any():
        y = np.where(over, np.sign(y) * (0.9 + 0.09 * np.tanh((np.abs(y) - 0.9) / 0.09)), y)
    return y.astype(np.float32)


def write_flac(path: Path, y: np.ndarray) -> None:
    """Write atomically: a temp name in the same folder, then os.replace."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.flac")
    try:
        sf.write(tmp, y, SR, format="FLAC", subtype="PCM_16")
        os.replace(tmp, path)
    except BaseException as e:
        tmp.unlink(missing_ok=True)
        # libsndfile reports a full disk as a generic error, so ask the file system
        if (isinstance(e, OSError) and e.errno == errno.ENOSPC) or (
                isinstance(e, (OSError, RuntimeError)) and disk_full(path.parent)):
            raise CorpusError(disk_full_message(path.parent)) from e
        raise


def disk_full(folder: Path, need_bytes: int = 64 * 2**20) -> bool:
    return shutil.disk_usage(folder).free < need_bytes


def disk_full_message(folder: Path) -> str:
    return (f"{folder}: disk full; free some space (df -h {folder}) and run the same command "
            "again: it resumes where it stopped")
