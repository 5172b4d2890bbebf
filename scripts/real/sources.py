"""The kinds of source the real corpus is made of, each yielding manifest rows and skips.

- ``charts``: a repository snapshot of rhythm-game songs (chart + audio per folder); audio deleted
  from the newest commit is taken from the newest older commit that still holds it.
- ``4q``: the 4Q dev clips listed in the shared ``4q_dev.csv`` (ONLY those; the rest is reserved).
- ``deb``: music files of a Debian package (``.deb`` in a folder), unlabelled (``real.debs``).
- ``keyed`` / ``genre``: the files of a snapshot named in a committed listing, with their key
  or their genre (``real.listed``).

Every file is checked (missing blob, LFS pointer, 0-byte placeholder, undecodable audio) and every
skip counted by reason. Extraction is resumable: a file already there with the expected size is
not written again, and every write is atomic.
"""

from __future__ import annotations

import csv
import fnmatch
import hashlib
import posixpath
import re
from dataclasses import dataclass
from pathlib import Path

from audiotaste._io import atomic_write_bytes
from real.audiocheck import (
    AUDIO_SUFFIXES,
    AudioInfo,
    AudioProblem,
    blob_problem,
    probe,
)
from real.charts import (
    CHART_SUFFIXES,
    FNF_SUFFIX,
    ChartError,
    ChartSkip,
    constant_tempo,
    decode_chart,
    parse_chart,
)
from real.gitrepo import Entry, GitRepo
from real.manifest import SkipCounter
from real.splits import artist_names, normal_name

__all__ = [
    "Source", "build_charts", "build_fourq", "clip_id", "drop_songs_of_earlier_sources",
    "extract_decodable", "read_sources", "safe_relpath", "snapshot", "song_title",
]  # fmt: skip

_LICENCE_LINE = re.compile(r"licen[cs]ed under[^\n]*", re.IGNORECASE)


@dataclass(frozen=True)
class Source:
    """One row of ``sources.csv``: ``origin`` is ``owner/name`` (git) or the package name (deb);
    ``version`` the commit or package version; ``include``/``inner`` glob patterns (see DATA.md);
    for charts, ``inner`` is where a chart's audio lies when its folder has none, with ``{folder}``
    standing for the chart folder's name and ``{dir}`` for its path (``..`` allowed); several
    templates, ``|``-separated, are tried in order."""

    source: str
    kind: str
    origin: str
    version: str
    licence: str
    include: str = ""
    inner: str = ""


def read_sources(path: str | Path) -> list[Source]:
    with open(path, newline="", encoding="utf-8") as handle:
        rows = [row for row in csv.DictReader(handle) if row["source"] and not row["source"].startswith("#")]
    return [
        Source(**{k: (v or "").strip() for k, v in row.items() if k in Source.__dataclass_fields__})
        for row in rows
    ]


def safe_relpath(path: str) -> str:
    """A repository path as a relative file path: no absolute part, no ``..``, no odd characters."""
    parts = [re.sub(r"[\x00-\x1f\\:*?\"<>|]", "_", p) for p in path.split("/") if p not in ("", ".", "..")]
    return "/".join(parts)


def _extract(repo: GitRepo, entry: Entry, dest: Path) -> str | None:
    """Write a blob to ``dest`` unless it is already there; returns a blob-problem reason or None."""
    if (
        entry.size is not None
        and dest.is_file()
        and dest.stat().st_size == entry.size
        and entry.size > 0
    ):
        return None
    data = repo.blob(entry.sha) if entry.size is not None else None
    problem = blob_problem(data)
    if problem is not None or data is None:
        return problem
    dest.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(dest, data)
    return None


def snapshot(source: Source, git_dir: Path) -> tuple[GitRepo, str, dict[str, Entry]]:
    """The snapshot's repository, the commit read (the recipe's, else HEAD) and its files by path."""
    repo = GitRepo(git_dir)
    commit = source.version if source.version and repo.has_commit(source.version) else repo.head()
    return repo, commit, {e.path: e for e in repo.tree(commit)}


def extract_decodable(
    repo: GitRepo, entry: Entry, dest: Path, source: Source, skips: SkipCounter
) -> AudioInfo | None:
    """Extract ``entry`` to ``dest`` and probe it; on a problem, count the skip (by the blob's path),
    leave no file behind and return None."""
    problem = _extract(repo, entry, dest)
    if problem is not None:
        skips.add(source.source, problem, entry.path)
        return None
    try:
        return probe(dest)
    except AudioProblem as error:
        skips.add(source.source, error.reason, entry.path)
        dest.unlink(missing_ok=True)
        return None


def clip_id(source: str, path: str) -> str:
    """A row's id: the source and the first 12 hex digits of the SHA-1 of the file's path."""
    return f"{source}/{hashlib.sha1(path.encode('utf-8', 'surrogateescape')).hexdigest()[:12]}"


def _licence_for(repo: GitRepo, folder_files: dict[str, Entry], default: str) -> str:
    """A song folder's own licence line (OpenTaiko songs ship ``license.txt``), else the source's."""
    for name, entry in sorted(folder_files.items()):
        if (
            name.lower().startswith(("license", "licence", "credits"))
            and entry.size
            and entry.size < 20000
        ):
            match = _LICENCE_LINE.search(decode_chart(repo.blob(entry.sha) or b""))
            if match:
                return match.group(0).strip().rstrip(".")
    return default


def build_charts(
    source: Source, git_dir: Path, out: Path, skips: SkipCounter
) -> list[dict[str, object]]:
    """Rows for every constant-tempo chart of a snapshot whose audio can be extracted and decoded."""
    repo, commit, head = snapshot(source, git_dir)
    if source.version and commit != source.version:
        skips.add(source.source, "recipe_commit_absent_used_head", source.version)
    history: dict[str, Entry] | None = None
    by_folder: dict[str, dict[str, Entry]] = {}
    for entry in head.values():
        by_folder.setdefault(posixpath.dirname(entry.path), {})[posixpath.basename(entry.path)] = (
            entry
        )
    suffixes = CHART_SUFFIXES
    fnf = any(pattern.lower().endswith(FNF_SUFFIX) for pattern in source.include.split("|"))
    if fnf:
        suffixes += (FNF_SUFFIX,)  # Friday Night Funkin' charts: only where the recipe asks

    def order(entry: Entry) -> tuple[int, bool, str]:
        # a mod's main version of a song before its "-old"/"-legacy" folders (see _fnf_base_title)
        words = set(song_title(posixpath.basename(posixpath.dirname(entry.path))).split())
        return entry.path.count("/"), fnf and bool(words & _VERSION_WORDS), entry.path

    charts = sorted(
        (e for e in head.values() if posixpath.splitext(e.path)[1].lower() in suffixes), key=order
    )
    if source.include:
        charts = [
            e for e in charts if any(fnmatch.fnmatch(e.path, p) for p in source.include.split("|"))
        ]
    rows: dict[str, dict[str, object]] = {}
    fnf_titles: dict[str, str] = {}  # Friday Night Funkin' song title -> the folder kept for it
    for chart_entry in charts:
        fmt = posixpath.splitext(chart_entry.path)[1].lower().lstrip(".")
        data = repo.blob(chart_entry.sha) if chart_entry.size is not None else None
        if blob_problem(data) or data is None:
            skips.add(source.source, f"chart_{blob_problem(data)}", chart_entry.path)
            continue
        try:
            chart = parse_chart(decode_chart(data), fmt=fmt)
            tempo = constant_tempo(chart)
        except ChartError as error:
            skips.add(source.source, "chart_unparseable", f"{chart_entry.path}: {error}")
            continue
        except ChartSkip as skip:
            skips.add(source.source, skip.reason, chart_entry.path)
            continue
        folder = posixpath.dirname(chart_entry.path)
        files = by_folder.get(folder, {})
        if fmt == "json" and song_title(chart.title).replace(" ", "") in _CALIBRATION_TITLES:
            # Friday Night Funkin' ships an offset-calibration click track among its songs
            skips.add(source.source, "calibration_track", chart_entry.path)
            continue
        # (a chart without a title stands for its song folder, as the row's title does below)
        title_key = _fnf_base_title(chart.title or posixpath.basename(folder)) if fmt == "json" else ""
        if title_key and fnf_titles.get(title_key, folder) != folder:
            # a mod collection holds one song in several mods (Hypno's and Death Toll's death-toll)
            skips.add(source.source, "duplicate_song_same_source", chart_entry.path)
            continue
        if fmt == "chart" and _stems(files):
            # Guitar Hero / Clone Hero songs split into instrument stems: song.* is then only the
            # backing track (sometimes near-silence), not the recording the chart was timed to
            skips.add(source.source, "audio_split_into_stems", chart_entry.path)
            continue
        audio = _find_audio(chart.music, folder, files, any_suffix=fmt == "chart")
        if audio is None and source.inner:
            # a site that keeps the audio apart from the charts (taiko-web: songs/<id>/main.tja
            # beside assets/<id>.ogg): ``inner`` is the audio's path, ``{folder}`` the chart's folder
            # (``{dir}``: the chart's folder itself, for paths relative to it such as a Friday Night
            # Funkin' mod's ``{dir}/../../songs/{folder}/Inst.ogg``)
            for template in source.inner.split("|"):  # the first of several that exists
                inner = template.format(folder=posixpath.basename(folder), dir=folder)
                audio = head.get(posixpath.normpath(inner))
                if audio is not None:
                    break
        if (audio is None or audio.size is None) and fmt != "json":
            # the newest commit lacks it (deleted, or a blob this snapshot does not hold): look back
            # (never for Friday Night Funkin': a mod collection holds one song folder name in many
            # mods, and a same-named folder elsewhere would pair a chart with another mod's audio)
            if history is None:
                history = repo.history()
            audio = _find_audio(chart.music, folder, _folder_files(history, folder)) or audio
            if audio is None or audio.size is None:
                audio = _moved_folder_audio(chart.music, folder, history) or audio
        if fmt == "chart" and audio is not None and _stem(audio.path) not in (_stem(chart.music), "song"):
            # only the file the chart names or Clone Hero's song.* (any suffix), never another
            # "only" audio file: beside a missing song.ogg that is a preview cut, off the chart's grid
            audio = None
        if audio is None:
            skips.add(source.source, "audio_not_in_snapshot", chart_entry.path)
            continue
        if audio.sha in rows:
            skips.add(source.source, "duplicate_chart_same_audio", chart_entry.path)
            continue
        rel = Path("audio") / source.source / safe_relpath(audio.path)
        info = extract_decodable(repo, audio, out / rel, source, skips)
        if info is None:
            continue
        song_folder = posixpath.basename(folder)
        if title_key:
            fnf_titles[title_key] = folder
        rows[audio.sha] = {
            "clip_id": clip_id(source.source, audio.path),
            "path": rel.as_posix(),
            "source": source.source,
            "source_commit": audio.commit,  # "<sha>^" (its parent) for audio deleted in <sha>
            "licence": _licence_for(repo, files, source.licence),
            "duration_s": f"{info.duration_s:.3f}",
            "tempo_bpm": f"{tempo.bpm:.6g}",
            "first_beat_s": f"{tempo.first_beat_s:.4f}",
            "meter": tempo.meter,
            "artist": chart.artist.strip(),
            "title": chart.title.strip() or song_folder,
            # a chart without an artist credit stands for its song folder in the artist split; a
            # Friday Night Funkin' mod never credits one, and its songs are mostly by the mod's own
            # few composers, so the whole source is one group (never split across dev and test)
            "_fallback": source.source if fmt == "json" else f"{source.source}:{song_folder}",
            "_audio_sha": audio.sha,  # for the cross-source duplicate check (build.py)
        }
    return list(rows.values())


def song_title(title: str) -> str:
    """A chart title as the duplicate check compares it: case, width and punctuation folded
    (``splits``' normalisation); ``""`` for a title that cannot name a song (empty, or only digits:
    a taiko-web folder id standing in for a missing ``TITLE:``)."""
    folded = normal_name(title)
    return "" if not folded or folded.replace(" ", "").isdigit() else folded


def drop_songs_of_earlier_sources(
    rows: list[dict[str, object]], skips: SkipCounter
) -> list[dict[str, object]]:
    """``rows`` without the chart rows whose song an EARLIER source (recipe order) already gave, so
    one song is never in two sources and so never in both splits (an artist credit spelt differently,
    or missing, would otherwise put the copies in different artist groups). A chart row is a repeat
    when its audio blob is a kept row's of another source (``duplicate_audio_other_source``), or when
    its title (:func:`song_title`) is one of another source's kept rows and the two artist credits
    share a name or one of them is empty (``duplicate_song_other_source``). Rows of one source never
    drop each other (a source's own repeats are its own business, as before), and non-chart rows
    pass untouched. Sources are appended to the recipe, so a new source never drops an older one's
    rows."""
    audio_of: dict[str, str] = {}
    titles: dict[str, list[tuple[frozenset[str], str]]] = {}
    kept: list[dict[str, object]] = []
    for row in rows:
        if not row.get("tempo_bpm"):
            kept.append(row)
            continue
        source, sha = str(row["source"]), str(row.get("_audio_sha", ""))
        title, names = song_title(str(row.get("title", ""))), artist_names(str(row.get("artist", "")))
        if sha and audio_of.get(sha, source) != source:
            skips.add(source, "duplicate_audio_other_source", f"{row['path']} = {audio_of[sha]}")
            continue
        earlier = next(
            (
                other_source
                for other_names, other_source in (titles.get(title, []) if title else [])
                if other_source != source and (not names or not other_names or names & other_names)
            ),
            None,
        )
        if earlier is not None:
            skips.add(source, "duplicate_song_other_source", f"{row['path']} = {earlier}: {row['title']}")
            continue
        kept.append(row)
        if sha:
            audio_of.setdefault(sha, source)
        if title:
            titles.setdefault(title, []).append((names, source))
    return kept


def _folder_files(history: dict[str, Entry], folder: str) -> dict[str, Entry]:
    prefix = f"{folder}/" if folder else ""
    return {
        path[len(prefix) :]: entry
        for path, entry in history.items()
        if path.startswith(prefix) and "/" not in path[len(prefix) :]
    }


def _moved_folder_audio(music: str, folder: str, history: dict[str, Entry]) -> Entry | None:
    """The audio of a song folder that moved (``WIP/[date] Song`` became ``Finished/[date] Song``
    and lost its audio on the way): the one older folder with the same name that holds it."""
    name = posixpath.basename(folder)
    if not name:
        return None
    folders = {
        posixpath.dirname(p) for p in history if posixpath.basename(posixpath.dirname(p)) == name
    }
    found = {
        audio.sha: audio
        for other in sorted(folders - {folder})
        if (audio := _find_audio(music, other, _folder_files(history, other))) is not None
    }
    return next(iter(found.values())) if len(found) == 1 else None


#: Words that mark a Friday Night Funkin' mod's second version of one of its songs ("Craft Away
#: old", "Other Hatcher (Legacy Mix)"): dropped when a mod's songs are compared among themselves.
_VERSION_WORDS = frozenset(
    {"old", "legacy", "new", "mix", "remix", "hq", "beta", "demo", "remaster", "remastered", "version"}
    | {f"v{i}" for i in range(1, 10)}
)


def _fnf_base_title(title: str) -> str:
    """A mod song's title without bracketed parts and version words (``"craft away old"`` and
    ``"Craft Away"`` are one song); ``""`` where nothing names a song."""
    words = song_title(re.sub(r"[(\[{][^)\]}]*[)\]}]", " ", title)).split()
    return " ".join(w for w in words if w not in _VERSION_WORDS)


#: Titles of the calibration click tracks that Friday Night Funkin' engines ship as songs.
_CALIBRATION_TITLES = frozenset({"offsettest", "offset", "offsetsong", "calibration"})

#: Instrument stems of a Guitar Hero / Clone Hero song folder (beside ``song.*``, the backing track).
_STEMS = re.compile(r"(guitar|rhythm|bass|drums(_\d)?|keys|vocals(_\d)?)\.(ogg|opus|mp3|wav)")


def _stem(path: str) -> str:
    return posixpath.splitext(posixpath.basename(path.replace("\\", "/")))[0].lower()


def _stems(files: dict[str, Entry]) -> bool:
    return any(_STEMS.fullmatch(name.lower()) for name in files)


def _find_audio(
    music: str, folder: str, files: dict[str, Entry], *, any_suffix: bool = False
) -> Entry | None:
    """The chart's named audio file (case-insensitive, as the games on Windows read it; with
    ``any_suffix``, as Clone Hero reads ``song.ogg``, any audio file of that stem), else the
    folder's only audio file."""
    lower = {name.lower(): entry for name, entry in files.items()}
    if music:
        wanted = posixpath.basename(music.replace("\\", "/")).lower()
        named = lower.get(wanted)
        if named is not None:
            return named
        if any_suffix:
            stem = posixpath.splitext(wanted)[0]
            same_stem = [
                entry
                for name, entry in sorted(lower.items())
                if posixpath.splitext(name)[0] == stem
                and posixpath.splitext(name)[1] in AUDIO_SUFFIXES
            ]
            if len(same_stem) == 1:
                return same_stem[0]
    audio = [
        e
        for name, e in sorted(files.items())
        if posixpath.splitext(name)[1].lower() in AUDIO_SUFFIXES
    ]
    return audio[0] if len(audio) == 1 else None


def build_fourq(
    source: Source, git_dir: Path, out: Path, listing: Path, skips: SkipCounter
) -> list[dict[str, object]]:
    """Rows for the 4Q dev clips: only ``mirror_path`` values of ``listing`` under ``Dataset/``."""
    repo, commit, head = snapshot(source, git_dir)
    rows: list[dict[str, object]] = []
    with open(listing, newline="", encoding="utf-8") as handle:
        listed = list(csv.DictReader(handle))
    for item in listed:
        path = item["mirror_path"]
        if not path.startswith("Dataset/") or ".." in path.split("/"):
            skips.add(source.source, "listing_path_outside_dataset", path)
            continue
        entry = head.get(path)
        if entry is None:
            skips.add(source.source, "audio_not_in_snapshot", path)
            continue
        rel = Path("audio") / source.source / safe_relpath(path)
        info = extract_decodable(repo, entry, out / rel, source, skips)
        if info is None:
            continue
        rows.append(
            {
                "clip_id": f"{source.source}/{posixpath.splitext(posixpath.basename(path))[0]}",
                "path": rel.as_posix(),
                "source": source.source,
                "source_commit": commit,
                "licence": source.licence,
                "duration_s": f"{info.duration_s:.3f}",
                "genres": item["genres"],
                "quadrant": item["quadrant"],
                "valence": item["valence"],
                "arousal": item["arousal"],
                "artist": item["artist"],
                "title": item["title"],
                "_fallback": path,
            }
        )
    return rows
