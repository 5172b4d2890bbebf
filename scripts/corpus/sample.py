"""``sample_audio/``: a dozen short clips of clearly different genres and moods, and listening
histories of invented users in three formats (events CSV, Spotify extended streaming history,
ListenBrainz JSONL), so the demo runs end to end offline.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import soundfile as sf

from .plan import GENRE_LEADS, ClipSpec, _aug, _pick, grooves, make_progression
from .render import FONTS
from .theory import MOODS

# (title, invented artist, genre, moods, font): the demo catalogue
TRACKS = (
    ("Blue Hour Walk", "The Velvet Quartet", "jazz", ("calm", "tender"), "fluidr3_gm"),
    ("Neon Runner", "Pulse Division", "electronic", ("happy", "energetic"), "fluidr3_gm"),
    ("Broken Amplifier", "Static Wolves", "rock", ("tense", "energetic"), "fluidr3_gs"),
    ("Winter Requiem", "Aurelia Strings", "classical", ("sad",), "fluidr3_gm"),
    ("Sol de Verano", "Los Hermanos Brisa", "latin", ("happy",), "fluidr3_gm"),
    ("Slow Tide", "Drift Atlas", "ambient", ("calm",), "fluidr3_gm"),
    ("Empty Station Blues", "Muddy Creek Jones", "blues", ("sad",), "csound"),
    ("Dusty Road Home", "Hank Wheeler Band", "country", ("happy",), "fluidr3_gm"),
    ("Island Skank", "Kingston Lane", "reggae", ("happy", "energetic"), "fluidr3_gs"),
    ("Velvet Promise", "Marvin Sweet", "soul", ("tender",), "fluidr3_gm"),
    ("Concrete Shadows", "MC Lowlight", "hiphop", ("tense",), "fluidr3_gm"),
    ("Lantern Song", "Fern & Hollow", "folk", ("sad", "tender"), "fluidr3mono"),
)
COLD = ("Concrete Shadows", "Lantern Song")  # never played by anyone: the demo's cold tracks
USERS = {  # user -> genres they love, genres they skip
    "u01": (("jazz", "ambient", "classical", "soul"), ("rock", "electronic", "hiphop")),
    "u02": (("electronic", "rock", "hiphop"), ("classical", "ambient", "folk")),
    "u03": (("latin", "reggae", "country"), ("blues", "classical")),
    "u04": (("blues", "folk", "classical", "soul"), ("electronic", "reggae")),
}
# An outside catalogue (not in sample_audio): (artist, title, genre, seconds)
OUTSIDE = (
    ("Miles Ahead Trio", "Night Canal", "jazz", 312), ("Lotus Choir", "Quiet Rooms", "ambient", 401),
    ("Kid Voltage", "Overdrive City", "electronic", 214), ("Iron Lanterns", "Riot Weather", "rock", 198),
    ("Banda Azul", "Cumbia del Puerto", "latin", 233), ("Jolene Parrish", "Front Porch", "country", 187),
    ("Delta Sam", "Crossroads Rain", "blues", 276), ("Clara Voss", "Nocturne in Grey", "classical", 355),
    ("Soulfood Sisters", "Hold Me Slow", "soul", 241), ("Roots Harbour", "Dub Sunrise", "reggae", 263),
)


def plan_sample(seed: int = 0) -> list[ClipSpec]:
    """The demo clips: fixed genres and moods, 12-16 s, sample-based SoundFonts."""
    out = []
    for i, (_title, _artist, genre, moods, font) in enumerate(TRACKS):
        rng = np.random.default_rng([3, seed, i])
        mood = next(m for m in MOODS if m.moods == moods)
        lo, hi = mood.tempo_window
        fits = [g for g in grooves() if g.genre == genre and g.tempo_lo <= hi and g.tempo_hi >= lo]
        drums = [g for g in fits if g.drums] if genre not in ("classical", "ambient", "folk") else []
        g = _pick(rng, drums or fits)
        a, b = max(g.tempo_lo, lo), min(g.tempo_hi, hi)
        tempo = float(round(a + rng.uniform(*mood.tempo_pos) * (b - a)))
        mode = int(_pick(rng, mood.modes))
        duration = float(round(rng.uniform(12.0, 16.0), 2))
        bar_s = g.mma_time * 60.0 / (tempo * g.beats_per_tap)
        velocity = float(np.mean(mood.velocity))
        own = {"ambient": "ambient_pad", "classical": "quartet"}.get(genre, "") \
            if g.groove.startswith("@") else ""
        aug = _aug(rng, velocity) | {"noise_db": -120.0, "level_db": -16.0 + 6 * (velocity - 0.8)}
        out.append(ClipSpec(
            clip_id=f"sample-{seed}-{i:02d}", index=i, seed=int(rng.integers(2**31)), split="sample",
            genre=genre, moods=moods, groove=g.groove, variant=g.groove, extra=g.extra,
            own_style=own, meter=g.meter, mma_time=g.mma_time, beats_per_tap=g.beats_per_tap,
            subdiv=g.subdiv, tempo_bpm=tempo, key=int(rng.integers(12)), mode=mode,
            progression=make_progression(rng, genre, mood.harmony, mode), chords_per_bar=1,
            bars=max(2, math.ceil(duration / bar_s)), duration_s=duration, velocity=velocity,
            register=mood.register, density=mood.density,
            articulation=float(np.mean(mood.articulation)),
            lead_program=int(_pick(rng, GENRE_LEADS[genre])), remap_p=0.0, drop_drums=False,
            soundfont=font, aug=aug, subset="sample"))
    return out


def _write_ogg(path: Path, y: np.ndarray, sr: int) -> None:
    """OGG Vorbis, written in blocks (libsndfile can crash writing a long OGG in one call)."""
    tmp = path.with_suffix(".tmp.ogg")
    with sf.SoundFile(tmp, "w", sr, y.shape[1], format="OGG", subtype="VORBIS",
                      compression_level=0.6) as f:
        for k in range(0, len(y), 16384):
            f.write(y[k:k + 16384])
    tmp.replace(path)


def _slug(text: str) -> str:
    return "_".join("".join(c if c.isalnum() else " " for c in text.lower()).split())


def export(build: Path, out: Path, seed: int = 0) -> None:
    """Encode the rendered clips of ``build`` as OGG in ``out`` and write the catalogue and histories."""
    out.mkdir(parents=True, exist_ok=True)
    rows = {r["clip_id"]: r for r in csv.DictReader((build / "manifest.csv").open())}
    tracks = []
    for spec, (title, artist, genre, moods, font) in zip(plan_sample(seed), TRACKS, strict=True):
        r = rows[spec.clip_id]
        y, sr = sf.read(build / r["path"], dtype="float32", always_2d=True)
        y *= min(1.0, 0.85 / float(np.abs(y).max()))  # headroom: Vorbis overshoots the peaks
        name = f"{_slug(artist)}-{_slug(title)}.ogg"
        _write_ogg(out / name, y, sr)
        data = (out / name).read_bytes()
        tracks.append({
            "file": name, "title": title, "artist": artist, "genre": genre, "mood": ";".join(moods),
            "tempo_bpm": r["tempo_bpm"], "key": r["key"], "key_name": r["key_name"],
            "mode": r["mode"], "meter": r["meter"], "duration_s": f"{len(y) / sr:.2f}",
            "soundfont": f"{r['soundfont']} (Debian {FONTS[font].package})",
            "licence": FONTS[font].licence,
            "track_id": hashlib.sha256(data).hexdigest()[:16],
        })
    with (out / "tracks.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(tracks[0]))
        w.writeheader()
        w.writerows(tracks)
    write_histories(tracks, out, seed)


def _uri(text: str) -> str:
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    n = int(hashlib.sha256(text.encode()).hexdigest(), 16)
    return "spotify:track:" + "".join(alphabet[(n >> (6 * k)) % 62] for k in range(22))


def history_events(tracks: list[dict], seed: int = 0) -> list[dict]:
    """Four weeks of plays for each invented user: loved genres played through, others skipped."""
    rng = np.random.default_rng([4, seed])
    catalogue = [dict(t, outside=False, seconds=float(t["duration_s"])) for t in tracks
                 if t["title"] not in COLD]
    catalogue += [{"title": title, "artist": artist, "genre": genre, "outside": True,
                   "seconds": float(sec),
                   "track_id": hashlib.sha256(f"{artist} - {title}".encode()).hexdigest()[:16]}
                  for artist, title, genre, sec in OUTSIDE]
    start = datetime(2026, 10, 26, tzinfo=UTC)
    events = []
    for user, (loves, hates) in USERS.items():
        weights = np.array([6.0 if t["genre"] in loves else 0.6 if t["genre"] in hates else 1.5
                            for t in catalogue])
        weights /= weights.sum()
        for day in range(28):
            sessions = int(rng.integers(0, 3))
            for _ in range(sessions):
                t = start + timedelta(days=day, hours=float(rng.uniform(7, 23)))
                context = str(_pick(rng, ("playlist", "album", "radio", "search")))
                for _ in range(int(rng.integers(3, 9))):
                    tr = catalogue[int(rng.choice(len(catalogue), p=weights))]
                    loved = tr["genre"] in loves
                    p_skip = 0.08 if loved else 0.85 if tr["genre"] in hates else 0.4
                    skipped = bool(rng.random() < p_skip)
                    full_ms = int(tr["seconds"] * 1000)
                    ms = int(rng.uniform(0.05, 0.35) * full_ms) if skipped else full_ms
                    events.append({
                        "user_id": user, "track_id": tr["track_id"],
                        "timestamp": t.strftime("%Y-%m-%dT%H:%M:%SZ"), "ms_played": ms,
                        "skipped": skipped, "reason_end": "fwdbtn" if skipped else "trackdone",
                        "context": context, "_artist": tr["artist"], "_title": tr["title"],
                        "_outside": tr["outside"], "_full_ms": full_ms,
                    })
                    t += timedelta(milliseconds=ms + int(rng.integers(500, 4000)))
    events.sort(key=lambda e: (e["timestamp"], e["user_id"]))
    return events


def write_histories(tracks: list[dict], out: Path, seed: int = 0) -> None:
    events = history_events(tracks, seed)
    cols = ("user_id", "track_id", "timestamp", "ms_played", "skipped", "reason_end", "context")
    with (out / "history.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(cols)
        for e in events:
            w.writerow([str(e[c]).lower() if c == "skipped" else e[c] for c in cols])
    for user in USERS:
        mine = [e for e in events if e["user_id"] == user]
        spotify = [{
            "ts": e["timestamp"], "username": user, "platform": "linux", "ms_played": e["ms_played"],
            "conn_country": "DE", "master_metadata_track_name": e["_title"],
            "master_metadata_album_artist_name": e["_artist"],
            "master_metadata_album_album_name": f"{e['_title']} (Single)",
            "spotify_track_uri": _uri(f"{e['_artist']} - {e['_title']}"),
            "episode_name": None, "episode_show_name": None, "spotify_episode_uri": None,
            "reason_start": "trackdone" if i else "clickrow", "reason_end": e["reason_end"],
            "shuffle": e["context"] == "playlist", "skipped": e["skipped"], "offline": False,
            "offline_timestamp": None, "incognito_mode": False,
        } for i, e in enumerate(mine)]
        folder = out / "spotify" / user
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "Streaming_History_Audio_2026.json").write_text(json.dumps(spotify, indent=1))
        # ListenBrainz keeps a listen only after half the track (or 4 minutes) was heard
        lb = [{
            "listened_at": int(datetime.strptime(e["timestamp"], "%Y-%m-%dT%H:%M:%SZ")
                               .replace(tzinfo=UTC).timestamp()),
            "user_name": user,
            "track_metadata": {
                "artist_name": e["_artist"], "track_name": e["_title"],
                "release_name": f"{e['_title']} (Single)",
                "additional_info": {"duration_ms": e["_full_ms"], "media_player": "audiotaste-demo",
                                    "submission_client": "audiotaste sample generator"},
            },
        } for e in mine if e["ms_played"] >= min(e["_full_ms"] / 2, 240_000)]
        lb_dir = out / "listenbrainz"
        lb_dir.mkdir(exist_ok=True)
        (lb_dir / f"{user}.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lb))
