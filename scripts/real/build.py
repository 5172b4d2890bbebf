#!/usr/bin/env python
"""Rebuild the real-recordings corpus: charts, 4Q dev clips, keyed and genre-labelled recordings and
unlabelled Debian music.

Example
-------
    nice -n 10 python scripts/real/build.py --out /work/data/real \\
        --mirror /work/.mirror --debs /work/data/debs

``--mirror`` holds the repository snapshots named in ``scripts/real/sources.csv`` as
``owner+name/`` folders (what the workplace's fetch tool makes; a plain ``git clone --bare`` named
the same way works too); ``--debs`` holds the ``.deb`` files (``apt-get download PACKAGE``). A
missing snapshot or package is skipped and counted. Reruns skip files already extracted, and the
manifest, ``skips.csv`` and ``skipped.csv`` are each replaced atomically at the end.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # audiotaste._io from this checkout

from real.debs import build_deb  # noqa: E402
from real.gitrepo import find_git_dir  # noqa: E402
from real.listed import build_genre, build_keyed  # noqa: E402
from real.manifest import COLUMNS, SkipCounter, write_manifest, write_skips  # noqa: E402
from real.sources import (  # noqa: E402
    Source,
    build_charts,
    build_fourq,
    drop_songs_of_earlier_sources,
    read_sources,
)
from real.splits import assign_splits, extend_splits  # noqa: E402

HERE = Path(__file__).resolve().parent
FOURQ_LISTING = Path("/work/shared/real_dev/4q_dev.csv")


def build_rows(
    sources: list[Source],
    *,
    out: Path,
    mirror: Path,
    debs: Path,
    fourq_listing: Path,
    skips: SkipCounter,
) -> list[dict[str, object]]:
    """Manifest rows of every source, with splits assigned (charts by artist, 4Q dev/devtest; genre
    sources by artist beside those, never moving them)."""
    rows: list[dict[str, object]] = []
    for source in sources:
        started = time.monotonic()
        if source.kind == "deb":
            got = build_deb(source, debs, out, skips)
        else:
            git_dir = find_git_dir(mirror / source.origin.replace("/", "+"))
            if git_dir is None:
                skips.add(source.source, "snapshot_not_fetched", source.origin)
                continue
            if source.kind == "charts":
                got = build_charts(source, git_dir, out, skips)
            elif source.kind == "4q":
                got = build_fourq(source, git_dir, out, fourq_listing, skips)
            elif source.kind == "keyed":
                got = build_keyed(source, git_dir, out, HERE / source.include, skips)
            elif source.kind == "genre":
                got = build_genre(source, git_dir, out, HERE / source.include, skips)
            else:
                skips.add(source.source, "unknown_source_kind", source.kind)
                continue
        print(
            f"{source.source:<24} {len(got):>5} clips  {time.monotonic() - started:6.1f} s",
            flush=True,
        )
        rows.extend(got)
    # one song from two sources would be two clips, possibly on both sides of the split: the later
    # source's copy is skipped (same audio blob, or same title with a shared or missing artist)
    rows = drop_songs_of_earlier_sources(rows, skips)
    charts = [r for r in rows if r.get("tempo_bpm")]
    fourq = [r for r in rows if r.get("quadrant")]
    # 4Q clips join the charts' artist groups pinned to dev: an artist of theirs is never in test
    split = assign_splits(
        (
            (str(r["clip_id"]), str(r.get("artist", "")), str(r["_fallback"]))
            for r in charts + fourq
        ),
        forced={str(r["clip_id"]): "dev" for r in fourq},
    )
    subsplit = assign_splits(
        ((str(r["clip_id"]), str(r.get("artist", "")), str(r["_fallback"])) for r in fourq),
        ("dev", "devtest"),
    )
    for row in rows:
        clip = str(row["clip_id"])
        row["split"] = split.get(clip, str(row.get("_split", "unlabelled")))
        row["subsplit"] = subsplit.get(clip, "")
    # genre sources join the artist groups made above without moving any clip already split: an
    # artist of theirs already in dev or test stays there; a new artist is hashed as above
    by_artist = [r for r in rows if r.get("_by_artist")]
    if by_artist:
        grouped = {str(r["clip_id"]) for r in charts + fourq}
        settled = [
            (str(r["clip_id"]), str(r.get("artist", "")), str(r["_fallback"]), str(r["split"]))
            for r in rows
            if str(r["clip_id"]) in grouped or "_split" in r  # split by artist, or pinned (keyed: dev/test)
        ]
        joined = extend_splits(
            settled,
            ((str(r["clip_id"]), str(r.get("artist", "")), str(r["_fallback"])) for r in by_artist),
        )
        for row in by_artist:
            row["split"] = joined[str(row["clip_id"])]
            if not row["split"]:
                skips.add(str(row["source"]), "artist_in_dev_and_test", str(row["path"]))
        rows = [r for r in rows if r["split"]]
    for row in rows:
        for key in ("_fallback", "_split", "_by_artist", "_audio_sha"):
            row.pop(key, None)
    return rows


def summary(rows: list[dict[str, object]]) -> str:
    """Songs and hours per source and split."""
    counts: Counter[tuple[str, str]] = Counter()
    hours: dict[tuple[str, str], float] = defaultdict(float)
    for row in rows:
        key = (str(row["source"]), str(row["split"]))
        counts[key] += 1
        hours[key] += float(str(row["duration_s"])) / 3600
    lines = [f"{'source':<24} {'split':<11} {'clips':>6} {'hours':>7}"]
    for key in sorted(counts):
        lines.append(f"{key[0]:<24} {key[1]:<11} {counts[key]:>6} {hours[key]:>7.2f}")
    lines.append(f"{'total':<24} {'':<11} {sum(counts.values()):>6} {sum(hours.values()):>7.2f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--out", type=Path, required=True, help="corpus folder (manifest.csv, audio/)"
    )
    parser.add_argument(
        "--mirror", type=Path, default=Path("/work/.mirror"), help="snapshot folders"
    )
    parser.add_argument("--debs", type=Path, default=Path("/work/data/debs"), help=".deb files")
    parser.add_argument("--sources", type=Path, default=HERE / "sources.csv", help="the recipe")
    parser.add_argument("--fourq-listing", type=Path, default=FOURQ_LISTING, help="4q_dev.csv")
    parser.add_argument(
        "--only", action="append", default=[], help="build only these sources (repeatable)"
    )
    args = parser.parse_args(argv)
    sources = read_sources(args.sources)
    if args.only:
        sources = [s for s in sources if s.source in args.only]
    args.out.mkdir(parents=True, exist_ok=True)
    skips = SkipCounter()
    rows = build_rows(
        sources,
        out=args.out,
        mirror=args.mirror,
        debs=args.debs,
        fourq_listing=args.fourq_listing,
        skips=skips,
    )
    suffix = ".partial" if args.only else ""  # a partial run never replaces the full corpus's files
    name = f"manifest{suffix}.csv"
    write_manifest(args.out / name, rows)
    write_skips(args.out, skips, suffix=suffix)
    print(f"\n{args.out / name}: {len(rows)} rows, columns {','.join(COLUMNS)}\n")
    print(summary(rows))
    print("\nskipped, by reason:")
    print(skips.table())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
