#!/usr/bin/env python
"""Train the tempo model (``TempoNet``: a learned octave decision over tempograms) and its meter head.

    nice -n 10 .venv/bin/python scripts/train_tempo.py --manifest corpus/full/manifest.csv \
        --manifest corpus/chorales/manifest.csv --out models/features/tempo.safetensors

Fits on ``split == "train"`` rows only; ``split == "val"`` rows (disjoint compositions) pick the
epoch and give the card's metrics. Each clip is seen at several tempi by stretching
its onset envelopes in time (label divided by the stretch), which is what the model must learn to be
invariant to. Writes the weights and a JSON card (data, command, metrics) next to them (the
skeleton is shared with ``train_key.py``: ``_train_common``).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _train_common import add_common_args, describe, fit, load_rows, save, setup  # noqa: E402

from audiotaste.features._models import TempoEnsemble, TempoNet  # noqa: E402
from audiotaste.features.spectrum import ANALYSIS_SR, HOP_LENGTH  # noqa: E402
from audiotaste.features.tempogram import (  # noqa: E402
    BINS_PER_OCTAVE,
    MIN_BPM,
    N_LOW_BINS,
    N_TEMPO_BINS,
    model_input,
    tempo_grid,
)

FPS = ANALYSIS_SR / HOP_LENGTH


def meter_class(meter: str) -> int:
    """0 triple (3/4), 1 duple (2/4, 4/4, 6/8, 12/8: tapped beats group in twos), -1 unknown."""
    try:
        num, den = (int(x) for x in str(meter).split("/"))
    except ValueError:
        return -1
    if den == 8 and num in (6, 12):
        return 1
    if den == 8 and num == 9:
        return 0
    return {2: 1, 4: 1, 3: 0}.get(num, -1)


def stretch(bands: np.ndarray, factor: float) -> np.ndarray:
    """Onset bands of the same music played ``factor`` times slower (longer), [C, T * factor]."""
    n = bands.shape[1]
    t_new = np.arange(int(round(n * factor))) / factor
    return np.stack([np.interp(t_new, np.arange(n), row) for row in bands]).astype(np.float32)


def bin_of(bpm: np.ndarray) -> np.ndarray:
    return BINS_PER_OCTAVE * np.log2(np.asarray(bpm, dtype=np.float64) / MIN_BPM)


def build(
    rows: list[dict], feats: list[dict], factors: list[float], rng: np.random.Generator, *, crop: bool = False,
) -> tuple:
    xs, pos, meters = [], [], []
    for row, f in zip(rows, feats, strict=True):
        for base in factors:
            factor = base * float(np.exp(rng.uniform(-0.03, 0.03))) if base != 1.0 else 1.0
            b = f["bands"] if factor == 1.0 else stretch(f["bands"], factor)
            lv = f["levels"] if factor == 1.0 else stretch(f["levels"], factor)
            if crop and b.shape[1] > 12 * FPS:  # a random excerpt of at least 10 s
                n = int(rng.integers(int(10 * FPS), b.shape[1] + 1))
                start = int(rng.integers(0, b.shape[1] - n + 1))
                b, lv = b[:, start : start + n], lv[:, start : start + n]
            x, _ = model_input(b, FPS, lv)
            xs.append(x)
            pos.append(bin_of(row["tempo_bpm"] / factor))
            meters.append(meter_class(row.get("meter", "")))
    return (torch.from_numpy(np.stack(xs)), torch.tensor(np.array(pos), dtype=torch.float32),
            torch.tensor(meters, dtype=torch.long))


def soft_targets(pos: torch.Tensor, sigma: float = 0.7) -> torch.Tensor:
    grid = torch.arange(N_TEMPO_BINS, dtype=torch.float32)
    t = torch.exp(-0.5 * ((grid[None, :] - pos[:, None].clamp(0, N_TEMPO_BINS - 1)) / sigma) ** 2)
    return t / t.sum(dim=1, keepdim=True)


def accuracy(net: TempoNet | TempoEnsemble, x: torch.Tensor, pos: torch.Tensor, meters: torch.Tensor) -> dict[str, float]:
    with torch.no_grad():
        logits, h = net(x)
        pred = logits.argmax(dim=1)
        meter_pred = net.meter_logits(h, pred).argmax(dim=1)
    grid = torch.from_numpy(tempo_grid()).float()
    est, ref = grid[pred], MIN_BPM * 2 ** (pos / BINS_PER_OCTAVE)
    ratio = est / ref
    acc1 = (torch.abs(ratio - 1) <= 0.04 + 0.015).float().mean()  # grid bins are 2.9 % apart
    acc2 = torch.stack([torch.abs(ratio / m - 1) <= 0.055 for m in (1, 2, 0.5, 3, 1 / 3)]).any(0).float().mean()
    known = meters >= 0
    meter_acc = (meter_pred[known] == meters[known]).float().mean() if known.any() else torch.tensor(float("nan"))
    return {"acc1_bin": float(acc1), "acc2_bin": float(acc2), "meter_acc": float(meter_acc)}


def _burst(kind: int, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(int(0.08 * ANALYSIS_SR)) / ANALYSIS_SR
    if kind == 0:  # click
        return np.sin(2 * np.pi * rng.uniform(500, 3000) * t) * np.exp(-t * rng.uniform(80, 300))
    if kind == 1:  # noise burst (snare, hat)
        return rng.standard_normal(t.size) * np.exp(-t * rng.uniform(60, 300))
    # thump (kick)
    return np.sin(2 * np.pi * rng.uniform(50, 120) * t * (1 + np.exp(-t * 30))) * np.exp(-t * rng.uniform(20, 60))


def synthetic_pulses(n: int, rng: np.random.Generator) -> tuple[list[dict], list[dict]]:
    """Pulse trains at random tempi (40-200 BPM), half of them with softer subdivisions.

    A pulse with nothing else going on is tapped at its own rate, and softer ticks between strong
    beats (2, 3 or 4 per beat: eighths, compound-meter eighths, sixteenths) do not move the tapped
    beat; music alone rarely shows the model these cases (a metronome at 60 or 180 BPM must not be
    read at 120 or 90, a 6/8 lilt not at its eighths).
    """
    from audiotaste.features.spectrum import melspectrogram, stft_power
    from audiotaste.features.tempogram import tempo_inputs

    rows, feats = [], []
    for _ in range(n):
        bpm = float(np.exp(rng.uniform(np.log(40), np.log(200))))
        subdiv = int(rng.choice([1, 1, 2, 3, 4])) if bpm < 130 else 1
        accent = int(rng.choice([1, 3, 4])) if subdiv == 1 else 1
        dur = 20.0
        y = np.zeros(int(dur * ANALYSIS_SR), np.float32)
        strong = _burst(int(rng.integers(3)), rng)
        weak = _burst(int(rng.integers(2)), rng) * rng.uniform(0.15, 0.4)
        start = rng.uniform(0, 60 / bpm)
        step = 60.0 / bpm / subdiv
        for i, b in enumerate(np.arange(start, dur - 0.1, step)):
            k = int(b * ANALYSIS_SR)
            if i % subdiv:
                sound = weak
            else:
                beat = i // subdiv
                sound = strong * (1.0 if accent == 1 or beat % accent == 0 else rng.uniform(0.3, 0.7))
            m = min(sound.size, y.size - k)
            y[k : k + m] += sound[:m]
        y += 1e-3 * rng.standard_normal(y.size).astype(np.float32)
        meter = {1: "", 3: "3/4", 4: "4/4"}[accent] if subdiv == 1 else ""
        rows.append({"tempo_bpm": bpm, "meter": meter})
        spectrum = stft_power(y)
        bands, levels = tempo_inputs(melspectrogram(spectrum=spectrum), spectrum)
        feats.append({"bands": bands, "levels": levels})
    return rows, feats


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_args(p, out="models/features/tempo.safetensors", epochs=40)
    p.add_argument("--width", type=int, default=32)
    p.add_argument("--pulses", type=int, default=300, help="synthetic pulse trains added to training")
    p.add_argument("--stretches", type=int, default=7, help="tempo stretches per training clip")
    p.add_argument("--stretch-range", type=float, default=0.35, help="largest stretch, octaves")
    p.add_argument("--members", type=int, default=1, help="seeds trained and averaged (an ensemble)")
    args = p.parse_args()
    rng = setup(args)

    df, feats = load_rows(args, ("tempo",))
    rows = df.to_dict("records")
    tr = [i for i in range(len(rows)) if rows[i]["split"] == "train"]
    va = [i for i in range(len(rows)) if rows[i]["split"] == "val"]
    t0 = time.time()
    factors = [float(f) for f in 2.0 ** np.linspace(-args.stretch_range, args.stretch_range, args.stretches)]
    pulse_rows, pulse_feats = synthetic_pulses(args.pulses, rng)
    xtr, ptr, mtr = build([rows[i] for i in tr] + pulse_rows, [feats[i] for i in tr] + pulse_feats,
                          factors, rng, crop=True)
    xva, pva, mva = build([rows[i] for i in va], [feats[i] for i in va], [1.0], rng)
    print(f"features: {len(tr)} train clips x {len(factors)} stretches, {len(va)} val clips "
          f"({time.time() - t0:.0f} s)", flush=True)

    ytr = soft_targets(ptr)

    def score(val: dict[str, float]) -> float:
        return val["acc1_bin"] + 0.1 * val["meter_acc"] if val["meter_acc"] == val["meter_acc"] else val["acc1_bin"]

    nets, vals = [], []
    for k in range(args.members):
        torch.manual_seed(args.seed + k)
        net = TempoNet(xtr.shape[1], N_TEMPO_BINS, n_low=N_LOW_BINS, width=args.width)

        def step(idx: torch.Tensor, net: TempoNet = net) -> torch.Tensor:
            logits, h = net(xtr[idx])  # [B, n_bins], [B, width, n_bins]
            loss = -(ytr[idx] * torch.log_softmax(logits, dim=1)).sum(dim=1).mean()
            known = mtr[idx] >= 0
            if known.any():
                true_bin = ptr[idx].round().long().clamp(0, N_TEMPO_BINS - 1)
                m_logits = net.meter_logits(h[known], true_bin[known])
                loss = loss + 0.3 * torch.nn.functional.cross_entropy(m_logits, mtr[idx][known])
            return loss

        vals.append(fit(net, xtr.shape[0], step, lambda net=net: accuracy(net, xva, pva, mva), score,
                        epochs=args.epochs, lr=3e-3, weight_decay=1e-4))
        nets.append(net)
    meta = {"n_channels": str(xtr.shape[1]), "n_bins": str(N_TEMPO_BINS), "n_low": str(N_LOW_BINS),
            "width": str(args.width)}
    model: TempoNet | TempoEnsemble = nets[0]
    if args.members > 1:
        model = TempoEnsemble(nets).eval()
        meta["n_models"] = str(args.members)
    val = accuracy(model, xva, pva, mva)
    print("val", val, flush=True)
    save(model, args, meta, {
        "model": "TempoNet (audiotaste.features._models): dilated 1-D CNN over 14 log-tempo tempograms "
                 "(autocorrelation + Fourier of 6 onset bands and of 32 mel band levels: tempogram.model_input), "
                 "24 bins/octave, features from 7.5 BPM, output 30-317 BPM, with a meter head"
                 + (f"; an ensemble of {args.members} (seeds {args.seed}-{args.seed + args.members - 1}, "
                    "probabilities averaged)" if args.members > 1 else ""),
        "training_data": f"{describe(df)}; fitted on the train clips plus {args.pulses} synthetic pulse "
                         f"trains (40-200 BPM, some with soft subdivisions), onset envelopes stretched by "
                         f"{[round(f, 3) for f in factors]} and randomly cropped (>= 10 s); each member's "
                         f"epoch picked on the val clips",
        "validation": val,
        "validation_members": vals,
    })


if __name__ == "__main__":
    main()
