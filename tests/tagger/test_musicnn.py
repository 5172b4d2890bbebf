"""musicnn in torch against the original TensorFlow musicnn, and the fetch/load path around it.

``tests/fixtures/musicnn/reference.npz`` was made by ``scripts/make_musicnn_fixtures.py`` with the original
code and TensorFlow: musicnn's own log-mel patches of a synthesised 12-s clip (plus a silent and a random
patch) and, for both models, the tag probabilities, logits and penultimate layer TensorFlow computed.

The weights are not in the repository: the ``musicnn_cache`` fixture downloads the musicnn 0.1.0 wheel
from PyPI once per session (or converts the wheel named by ``AUDIOTASTE_MUSICNN_WHEEL``) and the tests
that need it SKIP when PyPI cannot be reached. Everything else runs offline.
"""

from __future__ import annotations

import json
import os
import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
import torch.nn.functional as F

from audiotaste.errors import InputError, ModelError
from audiotaste.tagger.fetch import MUSICNN_WHEEL_SHA256, _download_wheel, convert_musicnn_wheel
from audiotaste.tagger.musicnn import (
    FRONT_END,
    MSD_LABELS,
    MTT_LABELS,
    MusicnnNet,
    MusicnnTagger,
    load_musicnn,
    musicnn_logmel,
    musicnn_patches,
)

FIXTURES = Path(__file__).parents[1] / "fixtures" / "musicnn"


@pytest.fixture(scope="module")
def ref() -> dict[str, np.ndarray]:
    with np.load(FIXTURES / "reference.npz", allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


@pytest.fixture(scope="session")
def musicnn_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    given = os.environ.get("AUDIOTASTE_MUSICNN_WHEEL")
    if given:
        return Path(given)
    try:
        return _download_wheel(tmp_path_factory.mktemp("wheel"), timeout=120)
    except ModelError as e:
        pytest.skip(
            f"musicnn 0.1.0 wheel not downloadable here ({e.reason}); set AUDIOTASTE_MUSICNN_WHEEL"
        )


@pytest.fixture(scope="session")
def musicnn_cache(tmp_path_factory: pytest.TempPathFactory, musicnn_wheel: Path) -> Path:
    cache = tmp_path_factory.mktemp("cache")
    written = convert_musicnn_wheel(musicnn_wheel, cache)
    assert [p.name for p in written] == ["musicnn-mtt", "musicnn-msd"]
    return cache


def dummy_tagger() -> MusicnnTagger:
    torch.manual_seed(0)
    return MusicnnTagger(MusicnnNet(), {"name": "x", "labels": {"tag": MTT_LABELS}})


# --- front end -----------------------------------------------------------------------------------
def test_front_end_matches_librosa_and_musicnns_own_patches(ref: dict[str, np.ndarray]) -> None:
    import librosa

    y = ref["waveform"].astype(np.float32) / 32768
    ours = musicnn_logmel(y)
    mel = librosa.feature.melspectrogram(y=y, sr=16000, hop_length=256, n_fft=512, n_mels=96).T
    theirs = np.log10(10000 * mel.astype(np.float16).astype(np.float32) + 1)
    assert ours.shape == theirs.shape == (751, 96)
    diff = np.abs(ours - theirs)
    # float32 sums in another order can round to the neighbouring float16 (one ulp, < 4e-4 in log10)
    assert diff.max() < 1e-3
    assert np.mean(diff > 1e-5) < 1e-3
    patches = musicnn_patches(ours)
    assert patches.shape == (4, 187, 96)
    own = np.abs(patches - ref["patches"][:4])  # musicnn.extractor.batch_data under librosa 0.10
    assert own.max() < 1e-3 and np.mean(own > 1e-5) < 1e-3


def test_front_end_puts_a_tone_in_its_mel_band() -> None:
    t = np.arange(16000 * 3) / 16000
    logmel = musicnn_logmel(0.5 * np.sin(2 * np.pi * 1000 * t))
    assert logmel.shape == (188, 96)  # 1 + 48000 // 256 centred frames
    import librosa

    centres = librosa.mel_frequencies(96 + 2, fmax=8000)[1:-1]
    assert abs(centres[logmel[50].argmax()] - 1000) < 60  # Hz
    assert np.all(musicnn_logmel(np.zeros(16000)) == 0.0)  # log10(0 + 1)


def test_front_end_chunking_does_not_change_frames(ref: dict[str, np.ndarray]) -> None:
    y = ref["waveform"][:40_000].astype(np.float32) / 32768
    whole = musicnn_logmel(y)
    assert whole.shape == (1 + 40_000 // 256, 96)
    for chunk in (1, 37, 156, 157):
        np.testing.assert_allclose(musicnn_logmel(y, chunk_frames=chunk), whole, atol=1e-3, rtol=0)
    assert np.mean(musicnn_logmel(y, chunk_frames=37) != whole) < 1e-3
    assert musicnn_logmel(np.zeros(100)).shape == (1, 96)


def test_patches_cut_and_pad() -> None:
    lm = np.arange(400 * 96, dtype=np.float32).reshape(400, 96)
    p = musicnn_patches(lm)
    assert p.shape == (2, 187, 96)
    np.testing.assert_array_equal(p[1], lm[187:374])
    assert musicnn_patches(lm, hop=93).shape == (3, 187, 96)
    short = musicnn_patches(lm[:50])  # repeat-padded, as musicnn's training data
    assert short.shape == (1, 187, 96)
    np.testing.assert_array_equal(short[0, 50:100], lm[:50])
    assert musicnn_patches(lm[:0]).shape == (0, 187, 96)


# --- the port against TensorFlow ------------------------------------------------------------------
@pytest.mark.parametrize(
    "name,prefix,labels", [("musicnn-mtt", "MTT", MTT_LABELS), ("musicnn-msd", "MSD", MSD_LABELS)]
)
def test_port_matches_tensorflow(
    musicnn_cache: Path, ref: dict[str, np.ndarray], name: str, prefix: str, labels: list[str]
) -> None:
    tagger = load_musicnn(name, musicnn_cache)
    assert tagger.labels == {"tag": labels}
    probs, emb = tagger.predict_and_embed_patches(
        ref["patches"]
    )  # what predict_patches / embed_patches return, in one pass
    assert probs.shape == (6, 50)
    assert np.abs(probs - ref[f"{prefix}_probs"]).max() <= 1e-4
    assert emb.shape == (6, 200)
    assert np.abs(emb - ref[f"{prefix}_penultimate"]).max() <= 1e-3
    # one patch at a time gives the same rows (musicnn's own extractor gets this wrong at batch size 1)
    np.testing.assert_allclose(tagger.predict_patches(ref["patches"][0]), probs[:1], atol=1e-6)
    np.testing.assert_allclose(tagger.embed_patches(ref["patches"][5]), emb[5:6], atol=1e-5)


def test_predict_file_matches_tensorflow_end_to_end(
    musicnn_cache: Path, ref: dict[str, np.ndarray], tmp_path: Path
) -> None:
    wav = tmp_path / "synth.wav"
    sf.write(wav, ref["waveform"], 16000, subtype="PCM_16")
    tagger = load_musicnn("MTT_musicnn", musicnn_cache)  # musicnn's own name works too
    tags = tagger.predict_file(wav)["tag"]
    assert list(tags) == MTT_LABELS
    want = ref["MTT_probs"][:4].mean(axis=0)
    assert np.abs(np.array(list(tags.values())) - want).max() < 1e-3
    assert sorted(tags, key=tags.__getitem__)[-3:] == [MTT_LABELS[i] for i in np.argsort(want)[-3:]]
    assert tagger.embed_file(wav).shape == (200,)


# --- fetching and loading -------------------------------------------------------------------------
def test_fetched_model_card(musicnn_cache: Path) -> None:
    card = json.loads((musicnn_cache / "musicnn-msd" / "card.json").read_text())
    assert card["license"] == "ISC"
    assert card["source"]["wheel_sha256"] == MUSICNN_WHEEL_SHA256
    assert card["front_end"] == FRONT_END
    assert card["labels"]["tag"] == MSD_LABELS
    assert "Pons" in card["citation"]
    assert sorted(p.name for p in musicnn_cache.iterdir()) == [
        "musicnn-msd",
        "musicnn-mtt",
    ]  # no temp left


def test_refetch_replaces_atomically(
    musicnn_cache: Path, musicnn_wheel: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "c"
    shutil.copytree(musicnn_cache, cache)
    (cache / "musicnn-mtt" / "stale").write_text("x")
    convert_musicnn_wheel(musicnn_wheel, cache)
    assert not (cache / "musicnn-mtt" / "stale").exists()
    assert sorted(p.name for p in cache.iterdir()) == ["musicnn-msd", "musicnn-mtt"]


def test_truncated_or_tampered_real_wheel(
    musicnn_cache: Path, musicnn_wheel: Path, tmp_path: Path
) -> None:
    cut = tmp_path / musicnn_wheel.name
    cut.write_bytes(musicnn_wheel.read_bytes()[: musicnn_wheel.stat().st_size // 2])
    with pytest.raises(ModelError) as e:
        convert_musicnn_wheel(cut, tmp_path / "cache")
    assert e.value.path == str(cut)
    with pytest.raises(ModelError, match="sha256"):
        convert_musicnn_wheel(musicnn_wheel, tmp_path / "cache", expected_sha256="0" * 64)
    assert list((tmp_path / "cache").iterdir()) == []


def test_corrupt_weights_and_foreign_card(musicnn_cache: Path, tmp_path: Path) -> None:
    d = tmp_path / "musicnn-mtt"
    shutil.copytree(musicnn_cache / "musicnn-mtt", d)
    w = d / "model.safetensors"
    w.write_bytes(w.read_bytes()[:100_000])
    with pytest.raises(ModelError, match="unreadable weights") as e:
        load_musicnn("musicnn-mtt", tmp_path)
    assert e.value.path == str(w)
    shutil.copy(musicnn_cache / "musicnn-mtt" / "model.safetensors", w)
    card = json.loads((d / "card.json").read_text())
    card["front_end"]["hop_length"] = 512
    (d / "card.json").write_text(json.dumps(card))
    with pytest.raises(ModelError, match="front end"):
        load_musicnn("musicnn-mtt", tmp_path)


def test_not_fetched_says_how_to_fetch(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="models fetch musicnn") as e:
        load_musicnn("musicnn-msd", tmp_path)
    assert e.value.path == str(tmp_path / "musicnn-msd")
    with pytest.raises(ModelError, match="unknown musicnn model"):
        load_musicnn("musicnn-big", tmp_path)


def fake_wheel(
    path: Path, *, version: str = "0.1.0", members: dict[str, bytes] | None = None
) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(
            f"musicnn-{version}.dist-info/METADATA",
            f"Metadata-Version: 2.1\nName: musicnn\nVersion: {version}\n",
        )
        for name, data in (members or {}).items():
            z.writestr(name, data)
    return path


def not_a_zip(path: Path) -> Path:
    path.write_bytes(b"not a zip")
    return path


def tiny_members(folder: str, cut: int = 0) -> dict[str, bytes]:
    data = (FIXTURES / "tiny_ckpt" / "model.data-00000-of-00001").read_bytes()
    return {
        f"musicnn/{folder}/.index": (FIXTURES / "tiny_ckpt" / "model.index").read_bytes(),
        f"musicnn/{folder}/.data-00000-of-00001": data[: len(data) - cut],
    }


@pytest.mark.parametrize(
    "make,match",
    [
        (lambda p: not_a_zip(p), "not a readable wheel"),
        (lambda p: fake_wheel(p, version="0.2.0"), "not the musicnn 0.1.0 wheel"),
        (lambda p: fake_wheel(p), r"wheel lacks musicnn/MTT_musicnn/\.index"),
        (lambda p: fake_wheel(p, members=tiny_members("MTT_musicnn")), "not a musicnn checkpoint"),
        (
            lambda p: fake_wheel(p, members=tiny_members("MTT_musicnn", cut=5)),
            "truncated checkpoint data",
        ),
    ],
)
def test_bad_wheels_leave_nothing_behind(
    tmp_path: Path, make: Callable[[Path], Path], match: str
) -> None:
    wheel = make(tmp_path / "musicnn-0.1.0-py3-none-any.whl")
    cache = tmp_path / "cache"
    (cache / "musicnn-mtt").mkdir(parents=True)
    (cache / "musicnn-mtt" / "card.json").write_text(
        "{}"
    )  # a previous model must survive a failed fetch
    with pytest.raises(ModelError, match=match):
        convert_musicnn_wheel(wheel, cache, expected_sha256=None)
    assert [p.name for p in cache.iterdir()] == ["musicnn-mtt"]
    assert (cache / "musicnn-mtt" / "card.json").read_text() == "{}"


def test_missing_wheel(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="missing"):
        convert_musicnn_wheel(tmp_path / "nope.whl", tmp_path / "cache")


# --- bad input to a loaded tagger -----------------------------------------------------------------
@pytest.mark.parametrize("shape", [(2, 187, 95), (187,), (2, 0, 96), (1, 2, 3, 96)])
def test_bad_patch_shapes(shape: tuple[int, ...]) -> None:
    with pytest.raises(InputError, match="patches"):
        dummy_tagger().predict_patches(np.zeros(shape, np.float32))


def test_non_finite_patches_and_empty_batch() -> None:
    tagger = dummy_tagger()
    bad = np.zeros((1, 187, 96), np.float32)
    bad[0, 3, 4] = np.inf
    with pytest.raises(InputError, match="NaN or infinite"):
        tagger.predict_patches(bad)
    assert tagger.predict_patches(np.zeros((0, 187, 96), np.float32)).shape == (0, 50)
    assert tagger.predict_patches(np.zeros((187, 96), np.float32)).shape == (1, 50)  # one patch


def test_unreadable_audio_names_the_file(tmp_path: Path) -> None:
    from audiotaste.errors import AudiotasteError

    bad = tmp_path / "broken.ogg"
    bad.write_bytes(b"OggS" + bytes(100))
    with pytest.raises(AudiotasteError) as e:
        dummy_tagger().predict_file(bad)
    assert e.value.path == str(bad)
    silent = tmp_path / "tiny.wav"
    sf.write(silent, np.zeros(0, np.float32), 16000)
    with pytest.raises(AudiotasteError):
        dummy_tagger().predict_file(silent)


def test_tf_bundle_layout_is_what_the_mapping_expects(musicnn_wheel: Path, tmp_path: Path) -> None:
    # the TensorFlow names -> torch shapes mapping, checked on the real checkpoint's index only
    from audiotaste.tagger.tfcheckpoint import list_variables

    with zipfile.ZipFile(musicnn_wheel) as z:
        (tmp_path / ".index").write_bytes(z.read("musicnn/MSD_musicnn/.index"))
    entries = list_variables(f"{tmp_path}/")
    assert entries["conv2d/kernel"].shape == (7, 38, 1, 204)
    assert entries["conv2d_5/kernel"].shape == (7, 561, 1, 64)
    assert entries["batch_normalization_9/gamma"].shape == (1506,)
    assert entries["dense_1/kernel"].shape == (200, 50)
    n_params = sum(
        int(np.prod(e.shape)) for n, e in entries.items() if "Adam" not in n and "power" not in n
    )
    assert n_params == sum(
        p.numel() for p in MusicnnNet().state_dict().values() if p.dtype == torch.float32
    )


def test_pooled_fast_path_equals_the_plain_order() -> None:
    # eval mode pools before ReLU/batch norm (flipping filters whose gamma < 0); it must not change results
    torch.manual_seed(1)
    net = MusicnnNet().eval()
    conv, bn = net.timbral[0], net.timbral_bn[0]
    assert isinstance(conv, torch.nn.Conv2d) and isinstance(bn, torch.nn.BatchNorm2d)
    assert bn.running_mean is not None and bn.running_var is not None
    with torch.no_grad():
        bn.weight.copy_(torch.randn(204))  # about half negative
        bn.bias.copy_(torch.randn(204))
        bn.running_mean.copy_(torch.randn(204))
        bn.running_var.copy_(torch.rand(204) + 0.1)
        x = torch.randn(2, 1, 30, 96)
        plain = bn(F.relu(conv(x))).amax(dim=3)
        fast = net._conv_relu_bn_freqmax(x, conv, bn)
    assert int((bn.weight < 0).sum()) > 50
    torch.testing.assert_close(fast, plain, rtol=0, atol=1e-6)


def test_predict_audio_resamples_and_reports_patches(
    musicnn_cache: Path, ref: dict[str, np.ndarray]
) -> None:
    import soxr

    tagger = load_musicnn("musicnn-mtt", musicnn_cache)
    y16 = ref["waveform"].astype(np.float32) / 32768
    y22 = soxr.resample(y16, 16000, 22050)  # as analyze() holds it
    out = tagger.predict_audio(y22, sr=22050)
    assert out.patch_probs.shape == (4, 50) and out.embedding.shape == (200,)
    np.testing.assert_allclose(out.patch_times, [0.0, 2.992, 5.984, 8.976])
    assert out.label_names[0] == "tag.guitar"
    want = ref["MTT_probs"][:4].mean(axis=0)
    got = np.array(list(out.tags["tag"].values()))
    # a 16 -> 22.05 -> 16 kHz round trip loses the synth's energy next to 8 kHz: close, not exact
    assert np.abs(got - want).max() < 0.05
    assert np.argmax(got) == np.argmax(want)
    assert tagger.version == "0.1.0"


def test_stream_fed_in_pieces_equals_predict_audio_on_the_whole_signal() -> None:
    from audiotaste.errors import EmptyAudioError

    tagger = dummy_tagger()
    rng = np.random.default_rng(7)
    for n in (100, 48_005, 16_000 * 13 + 77):  # under one patch, one patch, 4 patches and a tail
        y = (0.1 * rng.standard_normal(n)).astype(np.float32)
        whole = tagger.predict_audio(y)
        for chunk_frames in (8192, 50):  # one block, and many blocks that cut through patches
            stream = tagger.stream(chunk_frames=chunk_frames)
            for piece in np.split(y, np.sort(rng.integers(0, n, 12))):
                stream.add(piece)
            out = stream.finish()
            assert out.patch_probs.shape == whole.patch_probs.shape
            np.testing.assert_allclose(out.patch_probs, whole.patch_probs, atol=1e-6, rtol=0)
            np.testing.assert_allclose(out.embedding, whole.embedding, atol=1e-6, rtol=0)
            np.testing.assert_allclose(out.patch_times, whole.patch_times)
            assert out.tags["tag"] == pytest.approx(whole.tags["tag"], abs=1e-6)
    with pytest.raises(EmptyAudioError):
        tagger.stream().finish()
    stream = tagger.stream()
    with pytest.raises(InputError, match="NaN"):
        stream.add(np.array([0.0, np.nan], np.float32))


def test_a_saved_model_loads_by_path_through_load_model(tmp_path: Path) -> None:
    from audiotaste.tagger import load_model

    tagger = dummy_tagger()
    folder = tagger.save(tmp_path / "copy")
    loaded = load_model(folder)
    assert isinstance(loaded, MusicnnTagger) and loaded.labels == {"tag": MTT_LABELS}
    patches = np.random.default_rng(1).standard_normal((3, 187, 96)).astype(np.float32)
    np.testing.assert_array_equal(loaded.predict_patches(patches), tagger.predict_patches(patches))


# Code run in a child before the fetch: SIGKILL the child at a precise point of the conversion.
KILL_POINTS = {
    # while writing the second model's weights into the hidden temp folder
    "saving": "import safetensors.torch as st; save = st.save_file; n = [0]\n"
    "def hook(*a, **k):\n    n[0] += 1\n    if n[0] == 2: os.kill(os.getpid(), 9)\n    save(*a, **k)\n"
    "st.save_file = hook",
    # mtt installed, the previous msd moved aside, the new msd not yet in place
    "replacing": "replace = os.replace; n = [0]\n"
    "def hook(a, b):\n    replace(a, b); n[0] += 1\n    if n[0] == 2: os.kill(os.getpid(), 9)\n"
    "os.replace = hook",
}


@pytest.mark.slow
@pytest.mark.parametrize("point", sorted(KILL_POINTS))
def test_killed_fetch_never_leaves_a_half_written_model(
    musicnn_cache: Path, musicnn_wheel: Path, tmp_path: Path, point: str
) -> None:
    import subprocess
    import sys

    cache = tmp_path / "cache"
    shutil.copytree(musicnn_cache / "musicnn-msd", cache / "musicnn-msd")  # a previous fetch
    stale = cache / ".musicnn-fetch-old"
    stale.mkdir()
    os.utime(stale, (0, 0))  # left by a fetch killed long ago
    code = (
        "import os, sys\n"
        + KILL_POINTS[point]
        + "\nfrom audiotaste.tagger.fetch import convert_musicnn_wheel\n"
    )
    code += "convert_musicnn_wheel(sys.argv[1], sys.argv[2])"
    root = Path(__file__).parents[2]
    proc = subprocess.run(
        [sys.executable, "-c", code, str(musicnn_wheel), str(cache)], cwd=root, check=False
    )
    assert proc.returncode == -9  # really killed at that point
    visible = sorted(p.name for p in cache.iterdir() if not p.name.startswith("."))
    assert visible == {"saving": ["musicnn-msd"], "replacing": ["musicnn-mtt"]}[point]
    for name in visible:  # whatever is visible under a model name is whole
        assert load_musicnn(name, cache).labels["tag"] in (MTT_LABELS, MSD_LABELS)
    # a rerun completes and clears what a long-dead fetch left behind
    convert_musicnn_wheel(musicnn_wheel, cache)
    assert not stale.exists()
    assert {p.name for p in cache.iterdir() if not p.name.startswith(".")} == {
        "musicnn-mtt",
        "musicnn-msd",
    }
