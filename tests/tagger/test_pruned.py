"""The pruned musicnn student: pruning keeps what matters, folds what it drops, fine-tunes, round-trips."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from audiotaste.tagger.musicnn import MSD_LABELS, MusicnnNet, MusicnnTagger
from audiotaste.tagger.pruned import (
    PrunedConfig,
    channel_importance,
    fine_tune_pruned,
    prune_musicnn,
)

FIXTURES = Path(__file__).parents[1] / "fixtures" / "musicnn"


def _net(seed: int = 0) -> MusicnnNet:
    """A small random musicnn with non-trivial batch-norm statistics, in eval mode."""
    torch.manual_seed(seed)
    net = MusicnnNet(n_timbral=12, n_temporal=6, n_classes=5, n_filt_midend=8, n_units_backend=10)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.1, 0.1)
    return net.eval()


def _patches(n: int, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.uniform(0.0, 3.0, (n, 187, 96)).astype(np.float32)


def _out(net: MusicnnNet, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    with torch.inference_mode():
        logits, pen = net(torch.from_numpy(x))
    return logits.numpy(), pen.numpy()


def test_pruning_to_full_width_changes_nothing() -> None:
    net, x = _net(), _patches(6)
    same = prune_musicnn(net, x, n_timbral=12, n_temporal=6)
    for a, b in zip(_out(net, x), _out(same, x), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_filters_that_feed_nothing_are_the_ones_dropped_and_the_output_is_unchanged() -> None:
    net, x = _net(), _patches(6)
    dead = [0, 3, 5, 12 + 1, 12 + 7, 12 + 10, 24 + 2, 30 + 4, 36 + 0]  # some of every convolution
    with torch.no_grad():  # these channels reach neither the mid end nor the dense layer
        net.midend[0].weight[:, dead] = 0.0
        cols = np.stack([2 * np.array(dead), 2 * np.array(dead) + 1], 1).ravel()
        net.dense.weight[:, cols] = 0.0
    importance = channel_importance(net, x)
    assert importance[dead].max() == 0.0 and np.delete(importance, dead).min() > 0.0
    small = prune_musicnn(net, x, n_timbral=9, n_temporal=5)  # drops exactly 3 + 1 per conv group
    assert [c.out_channels for c in small.timbral] == [9, 9]
    assert [c.out_channels for c in small.temporal] == [5, 5, 5]
    for a, b in zip(_out(net, x), _out(small, x), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_a_constant_filters_contribution_is_folded_into_the_next_biases() -> None:
    net, x = _net(), _patches(6)
    with torch.no_grad():  # channel 0 of the first timbral conv: weights 0, bias 1 -> constant output
        net.timbral[0].weight[0] = 0.0
        net.timbral[0].bias[0] = 1.0
        # ...that matters downstream through the pools (the mid end's zero padding makes its fold
        # exact only away from the first and last 3 frames, so this test leaves the mid end out)
        net.midend[0].weight[:, 0] = 0.0
        net.dense.weight[:, :2] *= 50.0
        net.midend[0].weight[:, 12] = 0.0  # the second timbral conv loses one too: a dead one
        net.dense.weight[:, 24:26] = 0.0
    importance = channel_importance(net, x)
    assert importance[0] == pytest.approx(0.0, abs=1e-9)  # no variance: nothing to keep it for
    small = prune_musicnn(net, x, n_timbral=11, n_temporal=6)
    for a, b in zip(_out(net, x), _out(small, x), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-4)


def test_fine_tuning_is_deterministic_picks_the_best_epoch_and_fits_its_targets() -> None:
    teacher, x = _net(), _patches(16)
    logits, emb = _out(teacher, x)

    def start() -> MusicnnNet:  # pruned, then knocked away from the teacher so there is a gap to close
        net = prune_musicnn(teacher, x, n_timbral=3, n_temporal=2)
        with torch.no_grad():
            torch.manual_seed(5)
            net.out.weight.add_(0.5 * torch.randn_like(net.out.weight))
        return net

    gap0 = float(np.square(_out(start(), x)[0] - logits).mean())

    def run() -> tuple[MusicnnNet, list[dict[str, float]]]:
        net = start()
        scores = iter([0.0, 0.3, 0.9, 0.1])  # epoch 0 (before training), then epochs 1-3

        def validate(_: MusicnnNet) -> float:
            return next(scores)

        cfg = PrunedConfig(epochs=3, batch_size=4, lr=3e-3)
        return fine_tune_pruned(net, x, logits, emb, config=cfg, validate=validate, log=lambda s: None)

    (a, hist_a), (b, hist_b) = run(), run()
    assert [h["loss"] for h in hist_a[1:]] == [h["loss"] for h in hist_b[1:]]
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values(), strict=True))
    assert [h["epoch"] for h in hist_a] == [0, 1, 2, 3]
    assert hist_a[3]["loss"] < hist_a[1]["loss"]
    # the returned weights are epoch 2's (best score), and they are closer to the teacher than at the start
    assert float(np.square(_out(a, x)[0] - logits).mean()) < gap0


def test_a_pruned_model_round_trips_through_its_folder(tmp_path: Path) -> None:
    torch.manual_seed(0)
    net = MusicnnNet(n_timbral=7, n_temporal=3).eval()
    card = {"name": "musicnn-msd-student", "version": "9.9", "labels": {"tag": MSD_LABELS}}
    MusicnnTagger(net, card).save(tmp_path / "m")
    saved = json.loads((tmp_path / "m" / "card.json").read_text())
    assert saved["widths"] == {"n_timbral": 7, "n_temporal": 3}
    back = MusicnnTagger.load(tmp_path / "m")
    x = _patches(2)
    np.testing.assert_array_equal(back.predict_patches(x), MusicnnTagger(net, card).predict_patches(x))


def test_the_shipped_student_follows_the_teacher_on_the_reference_patches() -> None:
    """musicnn-msd's TensorFlow outputs on the fixture patches (a synthesised clip, a silent and a random
    patch) are the known answer; the student is not exact, but its tag ranking must follow them."""
    from audiotaste.tagger import load_model

    student = load_model("musicnn-msd-student")
    assert isinstance(student, MusicnnTagger)
    assert student.labels["tag"] == MSD_LABELS
    assert student.card["teacher"]["name"] == "musicnn-msd"
    assert student.net.timbral[0].out_channels < 204  # really pruned
    with np.load(FIXTURES / "reference.npz", allow_pickle=False) as z:
        patches, teacher_logits = z["patches"], z["MSD_logits"]
    logits, _ = _out(student.net, patches)
    music = slice(0, len(patches) - 2)  # the clip's patches, not the silent and random ones
    r = np.corrcoef(logits[music].ravel(), teacher_logits[music].ravel())[0, 1]
    assert r > 0.9
    agree = np.mean(
        [len(set(np.argsort(-a)[:5]) & set(np.argsort(-b)[:5])) for a, b in zip(logits[music], teacher_logits[music], strict=True)]
    )
    assert agree >= 3
