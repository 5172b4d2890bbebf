#!/usr/bin/env python
"""Fine-tune the shipped tempo model on real beat-mapped songs, and score tempo models on them.

    # score the shipped model on the real dev charts (fit and select halves), beside the anchors
    nice -n 10 .venv/bin/python scripts/tune_tempo_real.py score
    # fine-tune on the fit half, choose the epoch on the select half, write a candidate
    nice -n 10 .venv/bin/python scripts/tune_tempo_real.py tune --out /work/data/cache/tempo/cand
    # the one read of the test split, for the candidate and the shipped model
    nice -n 10 .venv/bin/python scripts/tune_tempo_real.py score --split test --candidate DIR
    # a clean two-fold comparison: start from weights that never heard a dev song (--base), train
    # on one half and score the other, both ways; then --train-on all with the epoch count chosen
    nice -n 10 .venv/bin/python scripts/tune_tempo_real.py tune --base DIR --train-on select --out DIR2

Data: the chart rows of ``/work/data/real/manifest.csv`` (``tempo_bpm`` is the chart's beat level).
The dev charts are split by artist into a *fit* half and a *select* half (sha1 of the artist name,
so the split is deterministic and never puts one artist on both sides); only the select half chooses
epochs and variants, and the test split is read once per decision.

Scoring follows ``analyze``: the song is cut into ``SEGMENT_S`` pieces, each gets a tempo, and the
segments vote (duration x confidence of those within 4 %). Acc1: within 4 % of the label; Acc2: also
at x2, x1/2, x3, x1/3.

Training keeps the rendered knowledge three ways: it starts from the shipped weights, every
parameter is pulled back towards them (an L2 penalty, "L2-SP"), and synthetic pulse trains
(``train_tempo.synthetic_pulses``) stay in every epoch.
"""

from __future__ import annotations

import argparse
import copy
import glob
import hashlib
import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd
import torch
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _features_cache import ROOT, load_features, read_manifest  # noqa: E402
from train_tempo import FPS, build, soft_targets, synthetic_pulses  # noqa: E402

from audiotaste.features import _models, rhythm  # noqa: E402
from audiotaste.features._models import TempoEnsemble, TempoNet, save_weights  # noqa: E402
from audiotaste.features.tempogram import N_TEMPO_BINS  # noqa: E402

MANIFEST = Path("/work/data/real/manifest.csv")
CACHE = Path("/work/data/cache/tempo")
BENCH_CACHE = Path("/work/data/bench_cache")
SEGMENT_S = 120.0
RATIOS = (1.0, 2.0, 0.5, 3.0, 1 / 3)


def half_of(group: str) -> str:
    """'fit' or 'select': a deterministic split of the dev charts by ``group`` (the artist, or the
    source for charts that credit none: a mod's songs share composers)."""
    return "fit" if int(hashlib.sha1(str(group).encode()).hexdigest(), 16) % 2 == 0 else "select"


def chart_rows(split: str) -> tuple[pd.DataFrame, list[dict]]:
    df = read_manifest(MANIFEST)
    df = df[df.tempo_bpm.notna() & (df.split == split)].reset_index(drop=True)
    groups = [a if isinstance(a, str) and a else s for a, s in zip(df.artist, df.source, strict=True)]
    df["half"] = [half_of(g) if split == "dev" else "test" for g in groups]
    return df, load_features(df, CACHE, workers=1, kinds=("tempo",))


def load_net(models_dir: Path | None) -> TempoNet | TempoEnsemble:
    """The tempo model under ``models_dir`` (``features/tempo.safetensors``), default the shipped one."""
    import os

    old = os.environ.get("AUDIOTASTE_MODELS_DIR")
    if models_dir is not None:
        os.environ["AUDIOTASTE_MODELS_DIR"] = str(models_dir)
    _models.load_tempo_net.cache_clear()
    try:
        loaded = _models.load_tempo_net()
    finally:
        if old is None:
            os.environ.pop("AUDIOTASTE_MODELS_DIR", None)
        else:
            os.environ["AUDIOTASTE_MODELS_DIR"] = old
        _models.load_tempo_net.cache_clear()
    assert loaded is not None, "no tempo model found"
    return loaded[0]


def song_tempo(f: dict, net: TempoNet | TempoEnsemble) -> tuple[float | None, tuple[float, ...]]:
    """Tempo (BPM or None) and beat times (s) of one song as ``analyze`` reads them (segment vote)."""
    seg = int(SEGMENT_S * FPS)
    n = f["bands"].shape[1]
    # score this net, not the shipped one
    rhythm.load_tempo_net = lambda: (net, {})  # type: ignore[assignment]
    ests = []
    for start in range(0, n, seg):
        b, lv = f["bands"][:, start : start + seg], f["levels"][:, start : start + seg]
        est = rhythm._estimate(b[4], FPS, b, lv)  # row 4 is the whole-spectrum flux = onset_envelope
        ests.append((b.shape[1] / FPS, est, start / FPS))
    voters = [e for e in ests if e[1].bpm is not None]
    if not voters:
        return None, ()

    def support(c: tuple) -> float:
        bpm = float(c[1].bpm or 0.0)
        return sum(d * (e.confidence + 1e-6) for d, e, _ in voters if abs(bpm - float(e.bpm or 0.0)) <= 0.04 * bpm)

    best = float(max(voters, key=support)[1].bpm or 0.0)
    beats = tuple(off + t for _, e, off in ests for t in rhythm.at_tempo(e, best).beat_times)
    return best, beats


def scores(est: list[float | None], ref: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    ratio = np.array([np.nan if e is None else e / r for e, r in zip(est, ref, strict=True)])
    acc1 = np.abs(ratio - 1) <= 0.04
    acc2 = np.any([np.abs(ratio / m - 1) <= 0.04 for m in RATIOS], axis=0)
    return ratio, acc1, acc2


def ratio_name(r: float) -> str:
    if not np.isfinite(r):
        return "null"
    for name, m in (("x1", 1), ("x2", 2), ("x1/2", 0.5), ("x3", 3), ("x1/3", 1 / 3), ("x3/2", 1.5), ("x2/3", 2 / 3)):
        if abs(r / m - 1) <= 0.04:
            return name
    return "other"


def anchor_answers() -> dict[str, dict[str, float]]:
    """Cached anchor tempi from scripts/bench_real.py (read-only): path -> {anchor: bpm}."""
    out: dict[str, dict[str, float]] = {}
    for tool, names in (("tempocnn", ("cnn", "fcn")), ("madmom", ("tcn",)), ("essentia", ("percival",))):
        for f in glob.glob(str(BENCH_CACHE / tool / "*.jsonl")):
            for line in Path(f).read_text().splitlines():
                try:
                    r = json.loads(line)
                except json.JSONDecodeError:
                    continue
                for name in names:
                    t = r.get("results", {}).get(name, {}).get("tempo")
                    if t:
                        out.setdefault(r["path"], {})[f"{tool} {name}"] = float(t)
    return out


def madmom_beats() -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    for f in glob.glob(str(BENCH_CACHE / "madmom" / "*.jsonl")):
        for line in Path(f).read_text().splitlines():
            try:
                r = json.loads(line)
            except json.JSONDecodeError:
                continue
            b = r.get("results", {}).get("tcn", {}).get("beats")
            if b:
                out[r["path"]] = b
    return out


def beat_f(est: np.ndarray, ref: np.ndarray, *, tol: float = 0.07, skip: float = 5.0) -> float:
    """Beat F-measure (mir_eval convention: +-70 ms, one-to-one matches, beats before ``skip`` s dropped)."""
    est, ref = np.sort(est[est >= skip]), np.sort(ref[ref >= skip])
    if est.size == 0 or ref.size == 0:
        return 0.0
    used = np.zeros(est.size, bool)
    hits = 0
    for t in ref:  # greedy on sorted grids equals the optimal matching when tol < half a beat
        i = int(np.searchsorted(est, t - tol))
        while i < est.size and est[i] <= t + tol:
            if not used[i]:
                used[i] = True
                hits += 1
                break
            i += 1
    p, r = hits / est.size, hits / ref.size
    return 0.0 if hits == 0 else 2 * p * r / (p + r)


def ref_beats(row: pd.Series) -> np.ndarray:
    period = 60.0 / float(row.tempo_bpm)
    return float(row.first_beat_s) + period * np.arange(int((float(row.duration_s) - float(row.first_beat_s)) / period) + 1)


def report(df: pd.DataFrame, est: list[float | None], label: str) -> dict:
    ratio, acc1, acc2 = scores(est, df.tempo_bpm.to_numpy(float))
    out: dict[str, Any] = {"model": label}
    for half in sorted(df.half.unique()):
        m = (df.half == half).to_numpy()
        out[half] = {"n": int(m.sum()), "acc1": float(acc1[m].mean()), "acc2": float(acc2[m].mean())}
    print(f"{label}: " + "; ".join(f"{h} n={v['n']} Acc1 {v['acc1']:.3f} Acc2 {v['acc2']:.3f}"
                                   for h, v in out.items() if isinstance(v, dict)), flush=True)
    return out


def octave_table(df: pd.DataFrame, est: list[float | None]) -> None:
    ratio, _, _ = scores(est, df.tempo_bpm.to_numpy(float))
    names = [ratio_name(r) for r in ratio]
    bands = pd.cut(df.tempo_bpm, [0, 100, 130, 160, 190, 400], labels=["<100", "100-130", "130-160", "160-190", ">=190"])
    for key, groups in (("tempo", bands), ("source", df.source)):
        print(f"\nestimate/label by {key}:")
        for g in pd.Series(groups).cat.categories if key == "tempo" else sorted(set(groups)):
            idx = [i for i in range(len(df)) if groups.iloc[i] == g]
            if idx:
                c = Counter(names[i] for i in idx)
                print(f"  {g:>20} n={len(idx):3d} " + " ".join(f"{k} {v}" for k, v in c.most_common()))


def sample_audio() -> tuple[pd.DataFrame, list[dict]]:
    """The 12 rendered tracks of ``sample_audio/`` (known tempi): the rendered-knowledge check."""
    from audiotaste.audio import load
    from audiotaste.features.spectrum import melspectrogram, stft_power
    from audiotaste.features.tempogram import tempo_inputs

    df = pd.read_csv(ROOT / "sample_audio/tracks.csv")
    feats = []
    for name in df.file:
        y, sr = load(ROOT / "sample_audio" / name, sr=22050)
        spectrum = stft_power(y, sr=sr)
        bands, levels = tempo_inputs(melspectrogram(spectrum=spectrum), spectrum)
        feats.append({"bands": bands, "levels": levels})
    df["half"] = "sample_audio"
    df["source"] = "rendered"
    return df, feats


def cmd_score(args: argparse.Namespace) -> None:
    if args.split == "sample_audio":
        df, feats = sample_audio()
    elif args.split.endswith(".csv"):  # a rendered manifest (e.g. make_corpus.py --preset bench), by subset
        df = read_manifest(Path(args.split))
        df["half"] = df["subset"].fillna("all") if "subset" in df else df["split"]
        df["source"] = df["half"]
        feats = load_features(df, CACHE, workers=1, kinds=("tempo",))
    else:
        df, feats = chart_rows(args.split)
    models = [("audiotaste shipped", None)] + [(f"candidate {c}", c) for c in args.candidate]
    anchors = anchor_answers()
    paths = df.abspath.map(lambda p: str(Path(p))) if "abspath" in df else pd.Series([""] * len(df))
    results = {}
    for label, d in models:
        net = load_net(d)
        t0 = time.time()
        out = [song_tempo(f, net) for f in feats]
        est = [o[0] for o in out]
        results[label] = report(df, est, label) | {"seconds": round(time.time() - t0, 1)}
        if args.octaves:
            octave_table(df, est)
        if args.split == "sample_audio":
            print("  " + ", ".join(f"{r.tempo_bpm}->{e:.0f}" for r, e in zip(df.itertuples(), est, strict=True)))
        if args.beats:
            fs = [beat_f(np.array(o[1]), ref_beats(r)) for o, (_, r) in zip(out, df.iterrows(), strict=True)]
            mm = madmom_beats()
            have = [i for i, p in enumerate(paths) if p in mm]
            fm = [beat_f(np.array(mm[paths[i]]), ref_beats(df.iloc[i])) for i in have]
            print(f"beat F (+-70 ms, from 5 s): {label} {np.mean(fs):.3f} (n={len(fs)}); on madmom's "
                  f"{len(have)}: ours {np.mean([fs[i] for i in have]):.3f}, madmom tcn {np.mean(fm):.3f}")
    for name in sorted({k for v in anchors.values() for k in v}):
        have = [i for i, p in enumerate(paths) if name in anchors.get(p, {})]
        if not have:
            continue
        sub = df.iloc[have].reset_index(drop=True)
        est = [anchors[paths[i]][name] for i in have]
        results[name] = report(sub, est, f"anchor {name} ({len(have)} of {len(df)})")
        if args.octaves:
            octave_table(sub, est)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


def excerpt_feats(feats: list[dict], rows: list[dict], rng: np.random.Generator, n_crops: int) -> tuple[list, list]:
    """Each song as ``n_crops`` random excerpts of 20-120 s (``build`` then stretches them)."""
    out_rows, out_feats = [], []
    for r, f in zip(rows, feats, strict=True):
        n = f["bands"].shape[1]
        for _ in range(n_crops):
            length = min(n, int(rng.uniform(20, 120) * FPS))
            start = int(rng.integers(0, n - length + 1))
            out_feats.append({"bands": f["bands"][:, start : start + length],
                              "levels": f["levels"][:, start : start + length]})
            out_rows.append(r)
    return out_rows, out_feats


def cmd_tune(args: argparse.Namespace) -> None:
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    df, feats = chart_rows("dev")
    # --train-on select swaps the halves: a second fold, to see whether a recipe's gain holds
    # --train-on all: every dev song trains and nothing is chosen (the epoch count comes from the
    # two folds, fit->select and select->fit); the last epoch is written
    score_half = {"fit": "select", "select": "fit", "all": ""}[args.train_on]
    fit_i = [i for i in range(len(df)) if args.train_on in ("all", df.half[i])]
    sel_i = [i for i in range(len(df)) if df.half[i] == score_half]
    rows = df.to_dict("records")
    for r in rows:
        r["meter"] = r["meter"] if isinstance(r["meter"], str) else ""
    t0 = time.time()
    ex_rows, ex_feats = excerpt_feats([feats[i] for i in fit_i], [rows[i] for i in fit_i], rng, args.crops)
    p_rows, p_feats = synthetic_pulses(args.pulses, rng)
    rend_rows: list[dict] = []
    rend_feats: list[dict] = []
    chk_rows: list[dict] = []
    chk_feats: list[dict] = []
    for m in args.rendered:
        rdf = read_manifest(m)
        rdf["meter"] = rdf["meter"].fillna("").astype(str)
        rfeats = load_features(rdf, CACHE, workers=1, kinds=("tempo",))
        for r, f in zip(rdf.to_dict("records"), rfeats, strict=True):
            (rend_rows if r["split"] == "train" else chk_rows).append(r)
            (rend_feats if r["split"] == "train" else chk_feats).append(f)
    p_rows, p_feats = p_rows + rend_rows, p_feats + rend_feats
    factors = [float(f) for f in 2.0 ** np.linspace(-0.35, 0.35, args.stretches)]
    xr, pr, mr = build(ex_rows, ex_feats, factors, rng)
    xp, pp, mp = build(p_rows, p_feats, [0.85, 1.0, 1.18], rng, crop=True)
    chk_ref = np.array([float(r["tempo_bpm"]) for r in chk_rows])
    x, pos, meters = torch.cat([xr, xp]), torch.cat([pr, pp]), torch.cat([mr, mp])
    is_real = torch.cat([torch.ones(len(xr)), torch.zeros(len(xp))])
    y = soft_targets(pos)
    print(f"train: {len(fit_i)} fit songs -> {len(xr)} real excerpts, {len(xp)} pulse and rendered inputs "
          f"({len(rend_rows)} rendered clips; {len(chk_rows)} rendered check clips) "
          f"({time.time() - t0:.0f} s)", flush=True)

    base = load_net(args.base)
    sel_df = df.iloc[sel_i].reset_index(drop=True)
    sel_feats = [feats[i] for i in sel_i]

    def evaluate(net: TempoNet | TempoEnsemble) -> tuple[float, float]:
        """(held-out half's Acc1 + 0.01 Acc2, 0 when nothing is held out; rendered check Acc1)."""
        net.eval()
        score = 0.0
        if sel_feats:
            _, acc1, acc2 = scores([song_tempo(f, net)[0] for f in sel_feats], sel_df.tempo_bpm.to_numpy(float))
            score = float(acc1.mean()) + 0.01 * float(acc2.mean())
        rendered = (float(scores([song_tempo(f, net)[0] for f in chk_feats], chk_ref)[1].mean())
                    if chk_feats else float("nan"))
        net.train()
        return score, rendered

    start, start_rendered = evaluate(base)
    floor = start_rendered - args.rendered_slack
    print(f"select half: shipped score {start:.3f}; rendered check Acc1 {start_rendered:.3f}", flush=True)
    members = [cast(TempoNet, m) for m in base.members] if isinstance(base, TempoEnsemble) else [base]
    copies = [copy.deepcopy(m) for m in members]
    tuned = TempoEnsemble(copies)
    anchors = [[p.detach().clone() for p in m.parameters()] for m in members]
    trainable: list[torch.Tensor] = []
    for m in copies:  # "head": only the tempo prior and the output layer (the octave decision)
        trainable += list(m.parameters()) if args.part == "all" else [m.prior, m.out.weight, cast(torch.Tensor, m.out.bias)]
    opt = torch.optim.Adam(trainable, lr=args.lr)
    history, best, best_rendered, best_state = [], start, start_rendered, copy.deepcopy(tuned.state_dict())
    best_epoch = 0
    for epoch in range(1, args.epochs + 1):
        tuned.train()
        order = torch.randperm(len(x))
        total = 0.0
        for s in range(0, len(x), 32):
            idx = order[s : s + 32]
            loss = torch.zeros(())
            for m, a in zip(copies, anchors, strict=True):
                logits, h = m(x[idx])
                ce = -(y[idx] * torch.log_softmax(logits, dim=1)).sum(dim=1)
                w = 1.0 + (args.real_weight - 1.0) * is_real[idx]
                loss = loss + (ce * w).sum() / w.sum()
                known = meters[idx] >= 0
                if known.any():
                    true_bin = pos[idx].round().long().clamp(0, N_TEMPO_BINS - 1)
                    loss = loss + 0.3 * torch.nn.functional.cross_entropy(
                        m.meter_logits(h[known], true_bin[known]), meters[idx][known])
                loss = loss + args.l2sp * sum(((p - p0) ** 2).sum() for p, p0 in zip(m.parameters(), a, strict=True))
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        score, rendered = evaluate(tuned)
        history.append({"epoch": epoch, "loss": round(total / len(x), 4), "select": round(score, 4),
                        "rendered_check": round(rendered, 4)})
        print(f"epoch {epoch}: loss {total / len(x):.3f}, select {score:.3f}, rendered check {rendered:.3f}",
              flush=True)
        # an epoch that forgets rendered music (beyond the slack) is never chosen, however well it reads charts
        # ties on the select half (30 songs: steps of 0.033) go to the epoch that reads rendered music better
        # (--train-on all has nothing to choose on: the last epoch is kept)
        better = (score, rendered) > (best, best_rendered) and not rendered < floor
        if args.train_on == "all" or args.last or better:
            best, best_rendered, best_epoch = score, rendered, epoch
            best_state = copy.deepcopy(tuned.state_dict())
    tuned.load_state_dict(best_state)
    out = Path(args.out) / "features"
    out.mkdir(parents=True, exist_ok=True)
    meta = {"n_channels": str(x.shape[1]), "n_bins": str(N_TEMPO_BINS), "n_low": str(members[0].n_low),
            "width": str(members[0].inp.out_channels), "n_models": str(len(members))}
    save_weights(tuned.eval(), out / "tempo.safetensors", meta)
    card = {"variant": vars(args) | {"out": str(args.out)}, "fit_songs": len(fit_i), "select_songs": len(sel_i),
            "real_excerpts": len(xr), "pulse_inputs": len(xp), "select_shipped": start, "rendered_check_shipped": start_rendered,
            "rendered_check_clips": len(chk_rows), "rendered_train_clips": len(rend_rows),
            "select_best": best, "rendered_check_best": best_rendered, "best_epoch": best_epoch, "history": history,
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    (out / "tune.json").write_text(json.dumps(card, indent=1, default=str))
    print(json.dumps({k: v for k, v in card.items() if k != "history"}, default=str), flush=True)


def main() -> None:
    global MANIFEST
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("score")
    s.add_argument("--split", default="dev", help="dev, test, sample_audio or a rendered manifest.csv")
    s.add_argument("--candidate", type=Path, action="append", default=[], help="models dir (repeatable)")
    s.add_argument("--octaves", action="store_true")
    s.add_argument("--beats", action="store_true")
    s.add_argument("--json")
    t = sub.add_parser("tune")
    t.add_argument("--out", required=True)
    t.add_argument("--epochs", type=int, default=6)
    t.add_argument("--lr", type=float, default=1e-3)
    t.add_argument("--l2sp", type=float, default=1e-3)
    t.add_argument("--part", choices=("all", "head"), default="all")
    t.add_argument("--crops", type=int, default=4)
    t.add_argument("--stretches", type=int, default=5)
    t.add_argument("--pulses", type=int, default=150)
    t.add_argument("--real-weight", type=float, default=1.0)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--train-on", choices=("fit", "select", "all"), default="fit",
                   help="dev half trained on (the other chooses the epoch); all: both, last epoch kept")
    t.add_argument("--last", action="store_true",
                   help="keep the last epoch (a fold of a fixed-epoch recipe; scores are still printed)")
    t.add_argument("--base", type=Path, default=None,
                   help="models dir whose features/tempo.safetensors is the start (default: shipped)")
    t.add_argument("--rendered", type=Path, action="append", default=[],
                   help="rendered manifest (repeatable): train rows join training, val/test rows are the check")
    t.add_argument("--rendered-slack", type=float, default=0.02,
                   help="largest loss of rendered-check Acc1 an epoch may show and still be chosen")
    for sp in (s, t):
        sp.add_argument("--manifest", type=Path, default=MANIFEST, help="real corpus manifest.csv")
    args = p.parse_args()
    MANIFEST = args.manifest
    torch.set_num_threads(1)
    threadpool_limits(1)
    {"score": cmd_score, "tune": cmd_tune}[args.cmd](args)


if __name__ == "__main__":
    _ = ROOT
    main()
