"""audiotaste itself, run like an anchor (with the project's Python and this worktree on the path).

``run_audiotaste.py`` runs :func:`audiotaste.analyze` (tempo, beats, key, the default tagger's genre and
mood tags, valence/arousal where the Analysis has them); ``run_audiotaste.py --model NAME`` runs one tagger
from :func:`audiotaste.tagger.load_model` (``musicnn-msd``, ``musicnn-mtt``, ``musicnn-msd-student``) and
reports its tags flattened as ``taxonomy.name``.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import torch  # noqa: E402
from _runner import serve  # noqa: E402

torch.set_num_threads(1)


def _number(value: Any) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


def _flat_tags(tags: Any) -> dict[str, float]:
    return {f"{taxonomy}.{name}": float(p) for taxonomy, probs in tags.items() for name, p in probs.items()}


def analyse_with_analyze(path: str):
    import audiotaste

    start = time.process_time()
    a = audiotaste.analyze(path)
    elapsed = time.process_time() - start
    d = a.to_dict()
    mode = d.get("mode")
    key_name = d.get("key_name")
    key = None if key_name in (None, "") or mode is None else f"{key_name} {'major' if mode == 1 else 'minor'}"
    beats = getattr(a, "beats", None)
    if beats is None:
        beats = getattr(a, "beat_times", ())
    out: dict[str, Any] = {
        "tempo": _number(d.get("tempo_bpm")),
        "beats": [round(float(b), 4) for b in beats],
        "key": key,
        "tags": _flat_tags(a.tags),
        "time_s": elapsed,
    }
    for field in ("valence", "arousal"):
        value = getattr(a, field, None)
        if value is not None:
            out[field] = _number(value)
    return float(a.duration_s), 0.0, {"analyze": out}


def tagger_analyser(name: str):
    from audiotaste.tagger import load_model

    tagger = load_model(name)

    def analyse(path: str):
        from audiotaste.audio.decode import info

        start = time.process_time()
        probs = tagger.predict_file(path)
        elapsed = time.process_time() - start
        duration_s = float(info(path).duration_s)  # NaN for files ffmpeg decodes
        return (None if math.isnan(duration_s) else duration_s), 0.0, {"tags": {"tags": _flat_tags(probs), "time_s": elapsed}}

    return analyse


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", help="a tagger name or folder for load_model (default: analyze)")
    args = parser.parse_args()
    serve(tagger_analyser(args.model) if args.model else analyse_with_analyze)
