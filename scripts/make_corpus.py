#!/usr/bin/env python
"""Generate labelled music: compose with MMA grooves and our own composers, render with FluidSynth.

Examples
--------
    python scripts/make_corpus.py --out corpus/smoke --n 48 --seed 0
    nohup nice -n 10 python scripts/make_corpus.py --out corpus/full --n 4200 --workers 2 &
    python scripts/make_corpus.py --preset bench --out corpus/bench
    python scripts/make_corpus.py --preset sample --out corpus/sample   # also writes sample_audio/
    python scripts/make_corpus.py --out corpus/other --n 48 --soundfont /path/to/other.sf2

The clip list is a pure function of (--preset, --seed, --n); ``--soundfont`` (repeatable, clips take
them in turn) re-renders the same compositions with other fonts.  Killed runs resume: clips already
in ``OUT/manifest.csv`` are skipped, and a row is written only once its FLAC is complete.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpus.manifest import BENCH_COLUMNS, COLUMNS, Manifest  # noqa: E402
from corpus.pipeline import render_clip  # noqa: E402
from corpus.plan import plan_clips  # noqa: E402
from corpus.render import CorpusError, check_tools, disk_full, disk_full_message, font_for  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, required=True, help="corpus folder (manifest.csv, audio/, midi/)")
    p.add_argument("--preset", choices=("train", "bench", "sample", "drumless", "blue", "fast", "anyregister"), default="train")
    p.add_argument("--n", type=int, default=None, help="number of clips (bench: per subset)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--soundfont", action="append", default=[], metavar="PATH",
                   help="render every clip with these fonts in turn (a .cfg means TiMidity++)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--no-augment", action="store_true", help="skip gain/EQ/reverb/noise/compression")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--splits", nargs="+", choices=("train", "val", "test"), default=None,
                   help="render only the clips of these splits (the plan, and so every clip, is the same)")
    p.add_argument("--sample-dir", type=Path, default=Path(__file__).resolve().parent.parent / "sample_audio",
                   help="--preset sample: where the OGG clips, tracks.csv and histories go")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    n = args.n if args.n is not None else {"bench": 80, "sample": 12}.get(args.preset, 48)
    specs = plan_clips(args.preset, args.seed, n)
    if args.splits:
        specs = [s for s in specs if s.split in args.splits]
    try:
        if args.soundfont:
            fonts = [font_for(f) for f in args.soundfont]
            specs = [s.with_soundfont(args.soundfont[i % len(fonts)]) for i, s in enumerate(specs)]
        else:
            fonts = [font_for(k) for k in sorted({s.soundfont for s in specs})]
        need_mma = any(not s.groove.startswith("@") for s in specs)
        check_tools(fonts, need_mma=need_mma)
        args.out.mkdir(parents=True, exist_ok=True)
        if disk_full(args.out):
            raise CorpusError(disk_full_message(args.out))
        rc = _run(args, specs)
        if args.preset == "sample" and rc == 0:
            from corpus.sample import export

            export(args.out, args.sample_dir, args.seed)
            print(f"wrote {args.sample_dir}", file=sys.stderr)
        return rc
    except CorpusError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


def _run(args: argparse.Namespace, specs: list) -> int:
    manifest = Manifest(args.out, BENCH_COLUMNS if args.preset == "bench" else COLUMNS)
    for stray in args.out.glob("audio/*/.*.tmp.flac"):  # left by a run killed mid-write
        stray.unlink(missing_ok=True)
    done = manifest.done()
    todo = [s for s in specs if s.clip_id not in done]
    print(f"{len(specs)} clips planned, {len(specs) - len(todo)} already done, {len(todo)} to render "
          f"-> {manifest.path}", file=sys.stderr)
    failures: list[str] = []
    audio_s = 0.0
    t0 = time.perf_counter()
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    progress = Progress("[progress.description]{task.description}", BarColumn(),
                        MofNCompleteColumn(), TimeRemainingColumn(), disable=args.quiet)
    try:
        with progress, ProcessPoolExecutor(max_workers=max(1, args.workers)) as pool:
            task = progress.add_task("rendering", total=len(todo))
            it = iter(todo)
            running: dict = {}
            while True:
                while len(running) < 2 * max(1, args.workers):
                    spec = next(it, None)
                    if spec is None:
                        break
                    running[pool.submit(render_clip, spec, args.out, not args.no_augment)] = spec
                if not running:
                    break
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for fut in finished:
                    spec = running.pop(fut)
                    try:
                        row = fut.result()
                    except CorpusError:
                        raise
                    except Exception as e:  # one bad clip must not stop a 4,000-clip run
                        failures.append(f"{spec.clip_id}: {type(e).__name__}: {e}")
                        (args.out / "errors.log").open("a").write(failures[-1] + "\n")
                    else:
                        manifest.append(row)
                        audio_s += spec.duration_s
                    progress.advance(task)
    finally:
        manifest.close()
    wall = time.perf_counter() - t0
    if todo:
        ru = [resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
        cpu = sum(r.ru_utime + r.ru_stime for r in ru)
        # CPU time says what the machine can do when shared; wall time what this run got
        print(f"rendered {len(todo) - len(failures)} clips, {audio_s:.0f} s of audio in {wall:.0f} s "
              f"({audio_s / max(wall, 1e-9):.1f}x real time wall with {args.workers} workers, "
              f"{audio_s / max(cpu, 1e-9):.1f}x real time per CPU-second); "
              f"{len(failures)} failed", file=sys.stderr)
    for f in failures[:10]:
        print(f"  failed: {f}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
