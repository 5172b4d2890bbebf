"""What real-world tags (musicnn) cost in ``analyze`` and in the catalogue, beside our tags alone.

    python scripts/bench_both_taxonomies.py [--minutes 3] [--repeats 3] [--files 4] [--long-minutes 20]

Needs ``audiotaste models fetch musicnn``. On one thread, with the 3-min 44.1 kHz stereo OGG Vorbis
song of ``bench_speed.py``:
- ``analyze`` (our descriptors + genre/mood), ``analyze(extra_models=("musicnn-msd",))`` (both
  taxonomies), ``extra_tags`` (musicnn only, as a catalogue upgrade runs it) and musicnn's own
  ``predict_file``: CPU seconds (``time.process_time``, median of repeats) and × real time, and the
  largest difference between the musicnn tags of ``analyze`` and of ``predict_file``;
- a catalogue of ``--files`` such songs: ``tag`` without musicnn, then ``tag --real-world`` on it
  (adds only the tag.* family), against tagging with both from scratch (CPU seconds of the process,
  inline engine);
- peak RSS of a fresh process running ``analyze`` with musicnn on a ``--long-minutes`` file (the
  musicnn front end streams: it never holds the whole 16 kHz signal).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")


sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_speed import peak_rss_of_analyze, synth_song, timed, write_long_ogg, write_ogg  # noqa: E402

MODEL = "musicnn-msd"  # --model musicnn-msd-student measures the shipped student instead


def cpu_timed(fn, repeats: int) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    return timed(fn, repeats, clock=time.process_time)


def peak_rss(path: Path, model: str) -> float:
    return peak_rss_of_analyze(path, f"extra_models=({model!r},)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--files", type=int, default=4)
    parser.add_argument("--long-minutes", type=float, default=20.0)
    parser.add_argument("--model", default=MODEL, help="real-world tagger (musicnn-msd, musicnn-msd-student)")
    args = parser.parse_args()
    model = args.model

    import torch

    torch.set_num_threads(1)
    import audiotaste
    from audiotaste.analysis import extra_tags
    from audiotaste.catalogue import AnalyzerSpec, Catalogue, run_batch
    from audiotaste.tagger import load_model

    seconds = args.minutes * 60
    rows: list[tuple[str, float, float, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        song = write_ogg(Path(tmp) / "song.ogg", synth_song(seconds))
        musicnn = load_model(model)
        audiotaste.analyze(song, extra_models=(model,))  # warm-up: model loads, caches
        t_ours, ours = cpu_timed(lambda: audiotaste.analyze(song), args.repeats)
        t_both, both = cpu_timed(lambda: audiotaste.analyze(song, extra_models=(model,)), args.repeats)
        t_extra, _ = cpu_timed(lambda: extra_tags(song, (model,)), args.repeats)
        t_own, own = cpu_timed(lambda: musicnn.predict_file(song), args.repeats)
        diff = max(abs(both.tags["tag"][k] - v) for k, v in own["tag"].items())  # type: ignore[attr-defined,index]
        top = sorted(both.tags["tag"].items(), key=lambda kv: -kv[1])[:3]  # type: ignore[attr-defined]
        rows += [
            ("analyze (genre/mood)", t_ours, seconds / t_ours, ", ".join(ours.tags)),  # type: ignore[attr-defined]
            (f"analyze + {model}", t_both, seconds / t_both,
             ", ".join(both.tags) + "; top " + ", ".join(f"{k} {p:.2f}" for k, p in top)),  # type: ignore[attr-defined]
            (f"extra_tags ({model} only)", t_extra, seconds / t_extra, "decode + 16 kHz + musicnn"),
            (f"{model} predict_file", t_own, seconds / t_own, f"max |diff| vs analyze {diff:.1e}"),
        ]

        music = Path(tmp) / "music"
        music.mkdir()
        for i in range(args.files):
            write_ogg(music / f"song{i}.ogg", synth_song(seconds, seed=10 + i))
        t0 = time.process_time()
        with Catalogue.open(Path(tmp) / "a.sqlite") as cat:
            run_batch([str(music)], cat, workers=0, spec=AnalyzerSpec())
            t_first = time.process_time() - t0
            t0 = time.process_time()
            s = run_batch([str(music)], cat, workers=0, spec=AnalyzerSpec(extra_models=(model,)))
            t_add = time.process_time() - t0
            assert s.tags_added == args.files, s.to_dict()
        t0 = time.process_time()
        with Catalogue.open(Path(tmp) / "b.sqlite") as cat:
            run_batch([str(music)], cat, workers=0, spec=AnalyzerSpec(extra_models=(model,)))
        t_scratch = time.process_time() - t0
        rss = peak_rss(write_long_ogg(Path(tmp) / "long.ogg", args.long_minutes), model)

    print(f"# bench_both_taxonomies  {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}  "
          f"{args.minutes:g}-min 44.1 kHz stereo OGG, 1 thread, CPU seconds, median of {args.repeats}")
    print(f"{'what':<36}{'CPU s':>8}{'x real time':>13}   result")
    for name, t, x, note in rows:
        print(f"{name:<36}{t:>8.3f}{x:>13.0f}   {note}")
    audio = args.files * seconds
    print(f"\ncatalogue of {args.files} x {args.minutes:g} min (inline engine, CPU s of the process):")
    print(f"{'tag (genre/mood)':<40}{t_first:>8.2f}   {audio / t_first:>6.0f}x real time")
    print(f"{'then tag --real-world (adds tag.*)':<40}{t_add:>8.2f}   {audio / t_add:>6.0f}x real time")
    print(f"{'tag --real-world from scratch':<40}{t_scratch:>8.2f}   {audio / t_scratch:>6.0f}x real time")
    print(f"\npeak RSS, analyze + {model} of a {args.long_minutes:g}-min file: {rss:.0f} MB")


if __name__ == "__main__":
    main()
