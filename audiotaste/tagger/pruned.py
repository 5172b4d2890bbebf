"""A pruned musicnn as the distilled student: musicnn's own filters, fewer of them, fine-tuned on its outputs.

Why this student and not :class:`~audiotaste.tagger.model.TaggerNet`: a TaggerNet trained from scratch
on the teacher's outputs fitted its training soundtracks but generalised poorly to an unseen one
(validation macro ROC-AUC ~0.79, Pearson ~0.52; ``docs/BENCHMARKS.md`` ``## distill``). A few hours
of real music are too little to relearn what musicnn learnt from a million songs. Starting from
the teacher's own weights keeps that knowledge; what we remove is width.

Where musicnn's time goes (multiply-adds per 3-s patch): the two timbral convolutions ~1.1 G
(204 filters each of 7 × 38 and 7 × 67 over 187 × 96), the three temporal ones ~0.2 G, the rest
~0.06 G. :func:`prune_musicnn` keeps the ``n_timbral`` and ``n_temporal`` front-end filters of each
convolution that carry the most signal into the rest of the network (measured on real patches),
folds the removed filters' mean contribution into the next layers' biases, and leaves mid end and
back end as they are. :func:`fine_tune_pruned` then trains the mid end and back end of the pruned
network to reproduce the teacher's logits and penultimate layer from the kept filters' output, which
stays the teacher's own; batch norm keeps the teacher's statistics.

Loss: squared error of the student's logits against the teacher's, each tag's error divided by that
tag's standard deviation over the training patches, plus ``emb_weight`` times the squared error of the
penultimate layer, standardised per dimension the same way. musicnn's MSD probabilities are small and
move little (per-tag standard deviation over patches ~0.03), so binary cross-entropy to them is almost
all target entropy: a student trained with it learnt each tag's mean and nothing of its variation
(validation Pearson < 0.1, ``docs/BENCHMARKS.md`` ``## distill``). In logit space, standardised, every
tag's variation counts, as the macro metrics count it.

The result is an ordinary musicnn model folder (same front end, ``widths`` in the card) that
:class:`~audiotaste.tagger.musicnn.MusicnnTagger` loads.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, cast

import numpy as np
import torch
from torch import nn

from .musicnn_net import MusicnnNet

__all__ = ["PrunedConfig", "channel_importance", "prune_musicnn", "fine_tune_pruned"]


@torch.inference_mode()
def _front_and_pool(net: MusicnnNet, patches: np.ndarray, batch: int = 32) -> tuple[np.ndarray, ...]:
    """Front-end outputs' per-channel mean and variance over patches and time, and the normalised
    pool inputs' mean and variance of the front-end channels (max and mean interleaved)."""
    net.eval()
    n_front = 2 * net.n_timbral + 3 * net.n_temporal
    s1 = np.zeros(n_front)
    s2 = np.zeros(n_front)
    pools = []
    n = 0
    for s in range(0, len(patches), batch):
        h = net.front(torch.from_numpy(np.asarray(patches[s : s + batch], np.float32)))  # [B, C, T]
        hd = h.double()
        s1 += hd.sum((0, 2)).numpy()
        s2 += hd.square().sum((0, 2)).numpy()
        n += h.shape[0] * h.shape[2]
        pooled = torch.stack([h.amax(dim=2), h.mean(dim=2)], dim=2).flatten(1)  # [B, 2C]
        bn = net.pool_bn
        assert bn.running_mean is not None and bn.running_var is not None
        k = 2 * n_front
        z = (pooled - bn.running_mean[:k]) / torch.sqrt(bn.running_var[:k] + bn.eps)
        pools.append((z * bn.weight[:k] + bn.bias[:k]).double().numpy())
    mean = s1 / n
    var = np.maximum(s2 / n - mean**2, 0.0)
    z_all = np.concatenate(pools)
    return mean, var, z_all.mean(0), z_all.var(0)


def channel_importance(net: MusicnnNet, patches: np.ndarray) -> np.ndarray:
    """How much signal each front-end channel passes on: [2·n_timbral + 3·n_temporal].

    The variance a channel adds to the mid end's first convolution (its activation variance times
    the squared norm of that convolution's weights on it) plus the variance it adds to the dense
    layer through the max and mean pools (normalised by the pool's batch norm).

    Parameters
    ----------
    net : MusicnnNet
    patches : np.ndarray [n, 187, 96]
        Real log-mel patches (a few hundred are enough).
    """
    return _importance(net, *_front_and_pool(net, patches))


def _importance(
    net: MusicnnNet, mean: np.ndarray, var: np.ndarray, zmean: np.ndarray, zvar: np.ndarray
) -> np.ndarray:
    w_mid = cast(nn.Conv1d, net.midend[0]).weight.detach().double().numpy()  # [64, C, 7]
    w_dense = net.dense.weight.detach().double().numpy()  # [200, 2·753]
    to_mid = var * np.square(w_mid).sum((0, 2))
    n_front = len(var)
    to_dense = zvar * np.square(w_dense[:, : 2 * n_front]).sum(0)
    return to_mid + to_dense.reshape(n_front, 2).sum(1)


def _groups(net: MusicnnNet) -> list[tuple[int, int]]:
    """(offset, size) of each front-end convolution's channels in the front-end output."""
    sizes = [net.n_timbral] * len(net.timbral) + [net.n_temporal] * len(net.temporal)
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    return [(int(o), int(s)) for o, s in zip(offsets, sizes, strict=True)]


@torch.no_grad()
def prune_musicnn(
    net: MusicnnNet, patches: np.ndarray, *, n_timbral: int, n_temporal: int
) -> MusicnnNet:
    """A copy of ``net`` with fewer front-end filters, chosen by :func:`channel_importance`.

    Parameters
    ----------
    net : MusicnnNet
        The teacher (left unchanged).
    patches : np.ndarray [n, 187, 96]
        Real log-mel patches that measure importance and the removed filters' mean output.
    n_timbral, n_temporal : int
        Filters kept in each timbral and each temporal convolution.

    Returns
    -------
    MusicnnNet
        In eval mode. The removed channels' mean contribution is added to the mid end's first bias
        and to the dense layer's bias, so that the pruned network starts near the teacher.
    """
    n_timbral = min(n_timbral, net.n_timbral)
    n_temporal = min(n_temporal, net.n_temporal)
    stats = _front_and_pool(net, patches)
    mean, zmean = stats[0], stats[2]
    importance = _importance(net, *stats)
    keep_parts = []
    for i, (off, size) in enumerate(_groups(net)):
        k = n_timbral if i < len(net.timbral) else n_temporal
        top = np.sort(np.argsort(-importance[off : off + size], kind="stable")[:k])
        keep_parts.append(off + top)
    keep = np.concatenate(keep_parts)
    drop = np.setdiff1d(np.arange(len(mean)), keep)

    small = MusicnnNet(
        n_mels=net.n_mels,
        n_classes=net.out.out_features,
        n_filt_midend=net.n_filt_midend,
        n_units_backend=net.dense.out_features,
        n_timbral=n_timbral,
        n_temporal=n_temporal,
    )
    sd = {k: v.clone() for k, v in net.state_dict().items()}
    new = small.state_dict()
    for key in new:
        if key.startswith("bn_input"):
            new[key] = sd[key]
    for i, ((off, _), part) in enumerate(zip(_groups(net), keep_parts, strict=True)):
        idx = torch.from_numpy(part - off)
        conv = "timbral" if i < len(net.timbral) else "temporal"
        j = i if i < len(net.timbral) else i - len(net.timbral)
        for key in (f"{conv}.{j}.weight", f"{conv}.{j}.bias"):
            new[key] = sd[key][idx]
        for key in new:
            if key.startswith(f"{conv}_bn.{j}.") and not key.endswith("num_batches_tracked"):
                new[key] = sd[key][idx]
    # mid end: drop input channels of the first convolution, fold their mean into its bias
    w = sd["midend.0.weight"]  # [64, C, 7]
    keep_t, drop_t = torch.from_numpy(keep), torch.from_numpy(drop)
    new["midend.0.weight"] = w[:, keep_t]
    new["midend.0.bias"] = sd["midend.0.bias"] + (
        w[:, drop_t].sum(2).double() @ torch.from_numpy(mean[drop])
    ).float()
    for key in new:
        if key.startswith(("midend.1", "midend.2", "midend_bn", "dense_bn", "out")):
            new[key] = sd[key]
    # back end: the pool's channels are [front (kept), mid end (all)], max and mean interleaved
    n_front = len(mean)
    old_ch = np.concatenate([keep, n_front + np.arange(3 * net.n_filt_midend)])
    pool_idx = torch.from_numpy(np.stack([2 * old_ch, 2 * old_ch + 1], 1).ravel())
    for stat in ("weight", "bias", "running_mean", "running_var"):
        new[f"pool_bn.{stat}"] = sd[f"pool_bn.{stat}"][pool_idx]
    dropped_pool = np.stack([2 * drop, 2 * drop + 1], 1).ravel()
    wd = sd["dense.weight"]
    new["dense.weight"] = wd[:, pool_idx]
    new["dense.bias"] = sd["dense.bias"] + (
        wd[:, torch.from_numpy(dropped_pool)].double() @ torch.from_numpy(zmean[dropped_pool])
    ).float()
    small.load_state_dict(new, strict=True)
    return small.eval()


@dataclass(frozen=True)
class PrunedConfig:
    """Fine-tuning settings of :func:`fine_tune_pruned`."""

    epochs: int = 6
    batch_size: int = 32
    lr: float = 3e-4
    weight_decay: float = 1e-4
    emb_weight: float = 0.5
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _scale(a: np.ndarray) -> np.ndarray:
    sd = a.std(0)
    return np.maximum(sd, 0.1 * sd.mean() + 1e-6).astype(np.float32)


def fine_tune_pruned(
    net: MusicnnNet,
    patches: np.ndarray,
    logits: np.ndarray,
    emb: np.ndarray,
    *,
    config: PrunedConfig | None = None,
    validate: Callable[[MusicnnNet], float] | None = None,
    log: Callable[[str], None] = print,
) -> tuple[MusicnnNet, list[dict[str, float]]]:
    """Train a pruned musicnn to reproduce the teacher's outputs on ``patches``.

    Parameters
    ----------
    net : MusicnnNet
        From :func:`prune_musicnn`. Its mid end and back end are trained in place; the front end and
        every batch norm's statistics stay as they are.
    patches : np.ndarray [n, 187, 96]
    logits, emb : np.ndarray [n, n_tags], [n, 200]
        The teacher's tag logits and penultimate layer on the same patches.
    config : PrunedConfig
    validate : callable, optional
        Score of the network (higher is better) after each epoch; the best epoch's weights are
        returned. Without it, the last epoch's.

    Returns
    -------
    (MusicnnNet, list of dict)
        The network in eval mode and one record per epoch (``epoch``, ``loss``, ``val``).
    """
    cfg = config or PrunedConfig()
    # The kept front-end filters are the teacher's own and stay as they are: their output is computed
    # once and only what follows trains (30x cheaper per step than training through the front end,
    # and on the validation soundtrack as good: AUC 0.98 after one epoch, docs/BENCHMARKS.md ## distill).
    net.eval()
    with torch.inference_mode():
        front = torch.cat(
            [net.front(torch.from_numpy(np.asarray(patches[s : s + 64], np.float32)))
             for s in range(0, len(patches), 64)]
        )  # [n, C, 187]
    trained = [*net.midend.parameters(), *net.midend_bn.parameters(), *net.pool_bn.parameters(),
               *net.dense.parameters(), *net.dense_bn.parameters(), *net.out.parameters()]
    logit_scale = torch.from_numpy(_scale(logits))
    emb_scale = torch.from_numpy(_scale(emb))
    opt = torch.optim.AdamW(trained, lr=cfg.lr, weight_decay=cfg.weight_decay)
    history: list[dict[str, float]] = []
    best_score, best = -math.inf, {k: v.clone() for k, v in net.state_dict().items()}
    if validate is not None:
        best_score = validate(net.eval())
        history.append({"epoch": 0, "val": best_score})
        log(f"epoch 0 val {best_score:.4f}")
    t0 = time.perf_counter()
    for epoch in range(cfg.epochs):
        rng = np.random.default_rng([cfg.seed, epoch])
        torch.manual_seed(cfg.seed * 100_003 + epoch)
        for group in opt.param_groups:
            group["lr"] = cfg.lr * 0.5 * (1.0 + math.cos(math.pi * epoch / cfg.epochs))
        net.train()
        for m in net.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.eval()  # keep the teacher's statistics: small batches of one soundtrack would drift them
        order = rng.permutation(len(patches))
        losses = []
        for b in range(0, len(order), cfg.batch_size):
            sel = np.sort(order[b : b + cfg.batch_size])
            out, pen = net.back(front[torch.from_numpy(sel)])  # [B, n_tags], [B, 200]
            loss = ((out - torch.from_numpy(logits[sel])) / logit_scale).square().mean()
            loss = loss + cfg.emb_weight * ((pen - torch.from_numpy(emb[sel])) / emb_scale).square().mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(loss.item())
        record = {"epoch": epoch + 1, "loss": float(np.mean(losses)), "seconds": time.perf_counter() - t0}
        if validate is not None:
            record["val"] = validate(net.eval())
            if record["val"] > best_score:
                best_score, best = record["val"], {k: v.clone() for k, v in net.state_dict().items()}
        else:
            best = {k: v.clone() for k, v in net.state_dict().items()}
        history.append(record)
        log(" ".join(f"{k} {v:.4g}" for k, v in record.items()))
    net.load_state_dict(best)
    return net.eval(), history
