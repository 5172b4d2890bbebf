"""Essentia anchor: RhythmExtractor2013 (multifeature), PercivalBpmEstimator, KeyExtractor edma/bgate/temperley."""

from __future__ import annotations

import time

import essentia
import essentia.standard as es
from _runner import serve, timed, to_list

SR = 44100
PROFILES = ("edma", "bgate", "temperley")
essentia.log.warningActive = False


def analyse(path: str):
    start = time.process_time()
    audio = es.MonoLoader(filename=path, sampleRate=SR)()
    decode_s = time.process_time() - start
    duration_s = len(audio) / SR

    def rhythm():
        bpm, ticks, _confidence, _estimates, _intervals = es.RhythmExtractor2013(method="multifeature")(audio)
        return {"tempo": float(bpm), "beats": to_list(ticks)}

    def percival():
        return {"tempo": float(es.PercivalBpmEstimator(sampleRate=SR)(audio))}

    def key(profile: str):
        def run():
            tonic, scale, strength = es.KeyExtractor(profileType=profile, sampleRate=SR)(audio)
            return {"key": f"{tonic} {scale}", "key_strength": float(strength)}

        return run

    results = {"rhythm2013": timed(rhythm), "percival": timed(percival)}
    for profile in PROFILES:
        results[f"key-{profile}"] = timed(key(profile))
    return duration_s, decode_s, results


if __name__ == "__main__":
    serve(analyse)
