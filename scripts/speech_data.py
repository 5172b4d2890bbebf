"""Rebuild the local non-music set: real speech and real-sample drum grooves, outside the repository.

Sources (Debian packages, fetched with ``apt-get download``; see ``docs/DATA.md``, "Non-music set"):

* speech: ``ktuberling-data`` (one speaker per language reading the toy's words, 23 languages,
  GPL-2+) and ``asterisk-core-sounds-{en,es,fr,it,ru}-wav`` (telephone prompts read by five
  professional speakers, 8 kHz, CC-BY-SA-3.0). Words or prompts of one speaker are joined with pauses
  of 0.1-0.7 s into clips of 12-30 s.
* drums: ``hydrogen-drumkits`` and ``hydrogen-data`` (16 sampled kits, GPL-2+ / GPL). Each kit's kick,
  snare, hats, toms and cymbals are sequenced into 16th-note grooves (rock, four-on-the-floor,
  breakbeat, half-time, hand percussion) at 70-180 BPM.

Every clip gets a pink noise floor 30-60 dB under its loud part (no digital silence between words).

Every clip belongs to a group (speaker or kit); groups alternate between the ``fit`` and ``held``
halves, so no speaker or kit is on both sides. Writes ``OUT/clips/<kind>/<group>/<n>.flac`` and
``OUT/manifest.csv`` (``path,kind,group,split,source,licence``)::

    cd OUT/debs && apt-get download ktuberling-data hydrogen-drumkits hydrogen-data \\
        asterisk-core-sounds-{en,es,fr,it,ru}-wav
    python scripts/speech_data.py --out /work/data/speech
"""

from __future__ import annotations

import argparse
import csv
import re
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

SR = 22050  # Hz, the analysis rate
_ASTERISK_LANGS = ("en", "es", "fr", "it", "ru")


def _extract(debs: Path, into: Path) -> None:
    for deb in sorted(debs.glob("*.deb")):
        target = into / deb.name.split("_")[0]
        if not target.exists():
            target.mkdir(parents=True)
            subprocess.run(["dpkg-deb", "-x", str(deb), str(target)], check=True)


def _read(path: Path) -> np.ndarray:
    y, sr = sf.read(str(path), dtype="float32", always_2d=True)
    y = y.mean(axis=1)
    return soxr.resample(y, sr, SR) if sr != SR else y


def _join(pieces: list[np.ndarray], rng: np.random.Generator, seconds: float) -> list[np.ndarray]:
    """Speech clips of about ``seconds`` from one speaker's words, with pauses as a reader makes."""
    clips, current, length = [], [np.zeros(int(rng.uniform(0.05, 0.4) * SR), np.float32)], 0.0
    for p in pieces:
        p = p / max(float(np.abs(p).max()), 1e-6) * rng.uniform(0.3, 0.9)
        current += [p, np.zeros(int(rng.uniform(0.1, 0.7) * SR), np.float32)]
        length += p.size / SR
        if length >= seconds:
            clips.append(np.concatenate(current))
            current, length = [np.zeros(int(rng.uniform(0.05, 0.4) * SR), np.float32)], 0.0
            seconds = rng.uniform(12, 30)
    if length >= 8:
        clips.append(np.concatenate(current))
    return clips


def _floor(y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``y`` over a pink noise floor 30-60 dB under its loud part: a real room or line is never
    digitally silent, and pauses of exact zeros would give the pauses away as a feature of this set."""
    loud = float(np.sqrt(np.mean(np.sort(y**2)[y.size // 2 :]))) + 1e-9
    white = np.fft.rfft(rng.standard_normal(y.size))
    pink = np.fft.irfft(white / np.sqrt(np.maximum(np.fft.rfftfreq(y.size, 1.0 / SR), 20.0)), y.size)
    pink *= loud * 10 ** (-rng.uniform(30, 60) / 20) / (np.std(pink) + 1e-12)
    out = y + pink.astype(np.float32)
    return (out / max(float(np.abs(out).max()), 1e-6) * float(np.abs(y).max())).astype(np.float32)


def _speech(x: Path, rng: np.random.Generator) -> list[tuple[str, str, str, list[np.ndarray]]]:
    out = []
    root = next(x.glob("ktuberling-data/usr/share/ktuberling/sounds"))
    for lang in sorted(p for p in root.iterdir() if p.is_dir()):
        files = sorted(lang.glob("*.ogg"))
        if len(files) < 20:
            continue
        rng.shuffle(files)  # type: ignore[arg-type]
        out.append((f"ktuberling-{lang.name}", "ktuberling-data", "GPL-2+",
                    _join([_read(f) for f in files], rng, rng.uniform(12, 30))))
    for lang in _ASTERISK_LANGS:
        files = sorted(x.glob(f"asterisk-core-sounds-{lang}-wav/usr/share/asterisk/sounds/*/*.wav"))
        rng.shuffle(files)  # type: ignore[arg-type]
        files = files[:240]  # ~20 clips per speaker are plenty
        out.append((f"asterisk-{lang}", f"asterisk-core-sounds-{lang}-wav", "CC-BY-SA-3.0",
                    _join([_read(f) for f in files], rng, rng.uniform(12, 30))))
    return out


_ROLES = {
    "kick": r"kick|bass ?drum|bassdrum|\bbd\b|djembe\d bass|cajon thump|dununba",
    "snare": r"snare|clap|rim|cajon slap|djembe\d slap|stick",
    "hat": r"hat|\bhh\b|shaker|maraca|tambourine",
    "tom": r"tom|bongo|conga|djembe\d tone|sangban|kenkeni",
    "cymbal": r"crash|ride|cymbal|splash|china",
    "perc": r"cowbell|clave|woodblock|bell|snap",
}


def _kit(xml: Path) -> dict[str, list[np.ndarray]]:
    """Samples of one Hydrogen kit by role (kick, snare, hat, tom, cymbal, perc)."""
    tree = ET.parse(xml)
    roles: dict[str, list[np.ndarray]] = {}
    for inst in tree.iter():
        if not inst.tag.endswith("instrument"):
            continue
        name = next((c.text or "" for c in inst if c.tag.endswith("name")), "").lower()
        files = [e.text for e in inst.iter() if e.tag.endswith("filename") and e.text]
        role = next((r for r, pat in _ROLES.items() if re.search(pat, name)), None)
        if role is None or not files or len(roles.get(role, [])) >= 4:
            continue
        try:
            sample = _read(xml.parent / files[len(files) // 2])[: 2 * SR]
        except (RuntimeError, sf.LibsndfileError):
            continue
        roles.setdefault(role, []).append(sample)
    return roles


def _groove(kit: dict[str, list[np.ndarray]], rng: np.random.Generator) -> np.ndarray:
    """15-30 s of a 16th-note drum pattern played with ``kit``'s samples, varied bar by bar."""
    bpm = rng.uniform(70, 180)
    step = 60.0 / bpm / 4
    style = rng.choice(["rock", "four", "break", "half", "hands"])
    patterns = {
        "rock": {"kick": [0, 8, 10], "snare": [4, 12], "hat": list(range(0, 16, 2))},
        "four": {"kick": [0, 4, 8, 12], "snare": [4, 12], "hat": [2, 6, 10, 14]},
        "break": {"kick": [0, 10, 11], "snare": [4, 12, 15], "hat": list(range(16))},
        "half": {"kick": [0, 3], "snare": [8], "hat": list(range(0, 16, 2)), "cymbal": [0]},
        "hands": {"tom": [0, 3, 6, 10, 12], "perc": [0, 4, 8, 12], "snare": [6, 14], "hat": list(range(16))},
    }[style]
    dur = rng.uniform(15, 30)
    y = np.zeros(int((dur + 2) * SR), np.float32)
    choice = {r: s[int(rng.integers(len(s)))] for r, s in kit.items()}
    for bar in range(int(dur / (16 * step))):
        fill = bar % 4 == 3 and rng.random() < 0.6
        for role, steps in patterns.items():
            sample = choice.get(role, choice.get("snare"))
            if sample is None:
                continue
            for s in steps:
                if fill and s >= 8 and role != "hat":
                    continue
                if rng.random() < 0.08:  # a drummer's variations: dropped and ghost notes
                    continue
                t = int((bar * 16 + s) * step * SR + rng.normal(0, 0.004) * SR)
                gain = rng.uniform(0.5, 1.0) * (0.5 if role == "hat" and s % 4 else 1.0)
                n = min(sample.size, y.size - max(t, 0))
                y[max(t, 0) : max(t, 0) + n] += gain * sample[:n]
        if fill:
            toms = kit.get("tom") or kit.get("snare") or []
            for s in range(8, 16, int(rng.choice([1, 2]))):
                if toms:
                    smp = toms[int(rng.integers(len(toms)))]
                    t = int((bar * 16 + s) * step * SR)
                    n = min(smp.size, y.size - t)
                    y[t : t + n] += rng.uniform(0.6, 1.0) * smp[:n]
    y = y[: int(dur * SR)]
    return (y / max(float(np.abs(y).max()), 1e-6) * rng.uniform(0.3, 0.9)).astype(np.float32)


def _drums(x: Path, rng: np.random.Generator) -> list[tuple[str, str, str, list[np.ndarray]]]:
    out = []
    for xml in sorted(x.glob("hydrogen-*/usr/share/hydrogen/data/drumkits/*/drumkit.xml")):
        kit = _kit(xml)
        if not kit:
            continue
        package = xml.parts[len(x.parts)]
        name = re.sub(r"[^A-Za-z0-9]+", "_", xml.parent.name).strip("_")
        out.append((f"hydrogen-{name}", package, "GPL-2+", [_groove(kit, rng) for _ in range(8)]))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, required=True, help="folder with debs/; clips and manifest go here")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    x = args.out / "x"
    _extract(args.out / "debs", x)
    rng = np.random.default_rng(args.seed)
    rows = []
    for kind, groups in (("speech", _speech(x, rng)), ("drums", _drums(x, rng))):
        for i, (group, package, licence, clips) in enumerate(groups):
            split = "fit" if i % 2 == 0 else "held"  # alternate groups: no speaker or kit on both sides
            folder = args.out / "clips" / kind / group
            folder.mkdir(parents=True, exist_ok=True)
            for j, clip in enumerate(clips):
                clip = _floor(clip, rng)
                path = folder / f"{j:02d}.flac"
                sf.write(str(path), clip, SR, subtype="PCM_16")
                rows.append([str(path.relative_to(args.out)), kind, group, split, package, licence])
            print(kind, group, split, len(clips), f"{sum(c.size for c in clips) / SR:.0f} s")
    with open(args.out / "manifest.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "kind", "group", "split", "source", "licence"])
        w.writerows(rows)


if __name__ == "__main__":
    main()
