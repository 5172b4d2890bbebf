import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from audiotaste.audio import info, load
from audiotaste.errors import (
    AudioError,
    AudioNotFoundError,
    AudioPermissionError,
    DecodeError,
    EmptyAudioError,
    InvalidSamplesError,
    MissingDecoderError,
    UnsupportedFormatError,
)

SR = 44100


def _write(path: Path, y: np.ndarray, sr: int = SR, **kwargs: object) -> Path:
    """Write in blocks: libsndfile can crash writing a long OGG Vorbis in one call."""
    data = np.atleast_2d(y).T
    with sf.SoundFile(path, "w", samplerate=sr, channels=data.shape[1], **kwargs) as f:
        for start in range(0, len(data), 1 << 15):
            f.write(data[start : start + (1 << 15)])
    return path


def _sine(seconds: float, sr: int = SR, freq: float = 440.0) -> np.ndarray:
    return (0.5 * np.sin(2 * np.pi * freq * np.arange(int(seconds * sr)) / sr)).astype(np.float32)


@pytest.mark.parametrize("ext", ["wav", "flac", "ogg", "mp3"])
def test_decodes_common_formats_and_resamples(tmp_path: Path, ext: str) -> None:
    path = _write(tmp_path / f"a.{ext}", np.stack([_sine(2.0), _sine(2.0)]))
    y, sr = load(path, sr=22050)
    assert sr == 22050 and y.dtype == np.float32 and y.ndim == 1
    assert abs(len(y) - 2 * 22050) < 2000  # MP3 adds encoder delay/padding
    # The 440 Hz tone survives decoding and resampling.
    spectrum = np.abs(np.fft.rfft(y[:22050]))
    assert abs(np.argmax(spectrum) - 440) <= 2


def test_offset_duration_and_multichannel(tmp_path: Path) -> None:
    y = np.stack([_sine(3.0, freq=f) for f in (220, 330, 440, 550, 660, 770, 880, 990)])
    path = _write(tmp_path / "eight.wav", y)
    out, sr = load(path, sr=None, mono=False, offset=1.0, duration=0.5)
    assert out.shape == (8, SR // 2) and sr == SR
    np.testing.assert_allclose(out, y[:, SR : SR + SR // 2], atol=1e-4)


@pytest.mark.parametrize("ext,subtype", [("ogg", None), ("flac", None), ("mp3", None)])
def test_truncated_file_gives_decode_error(tmp_path: Path, ext: str, subtype: str | None) -> None:
    full = _write(tmp_path / f"full.{ext}", _sine(6.0))
    data = full.read_bytes()
    cut = tmp_path / f"cut.{ext}"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(DecodeError) as err:
        load(cut)
    message = str(err.value)
    assert str(cut) in message
    assert "truncated" in message or "corrupt" in message


def test_bad_paths(tmp_path: Path) -> None:
    with pytest.raises(AudioNotFoundError, match="no such file"):
        load(tmp_path / "missing.wav")
    with pytest.raises(AudioNotFoundError, match="directory"):
        (tmp_path / "dir.wav").mkdir()
        load(tmp_path / "dir.wav")
    link = tmp_path / "broken.wav"
    link.symlink_to(tmp_path / "nowhere.wav")
    with pytest.raises(AudioNotFoundError, match="broken symbolic link"):
        load(link)
    empty = tmp_path / "empty.mp3"
    empty.write_bytes(b"")
    with pytest.raises(EmptyAudioError, match="empty"):
        load(empty)
    text = tmp_path / "notes.wav"
    text.write_text("this is not audio\n" * 50)
    with pytest.raises(UnsupportedFormatError, match="not a recognised audio format"):
        load(text)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_unreadable_file(tmp_path: Path) -> None:
    path = _write(tmp_path / "locked.wav", _sine(0.5))
    path.chmod(0)
    with pytest.raises(AudioPermissionError):
        load(path)


def test_nan_samples_are_refused(tmp_path: Path) -> None:
    y = _sine(1.0)
    y[1000] = np.nan
    path = _write(tmp_path / "nan.wav", y, subtype="FLOAT")
    with pytest.raises(InvalidSamplesError, match="NaN"):
        load(path)


@pytest.mark.parametrize("sr_in", [8000, 192000])
def test_extreme_sample_rates(tmp_path: Path, sr_in: int) -> None:
    path = _write(tmp_path / f"r{sr_in}.flac", _sine(1.0, sr=sr_in, freq=1000.0), sr=sr_in)
    y, sr = load(path, sr=22050)
    assert sr == 22050 and abs(len(y) - 22050) <= 1
    assert abs(np.argmax(np.abs(np.fft.rfft(y))) - 1000) <= 2


def test_one_millisecond(tmp_path: Path) -> None:
    y, _ = load(_write(tmp_path / "tiny.wav", _sine(0.001)), sr=22050)
    assert 0 < len(y) <= 30


def test_info_reads_header(tmp_path: Path) -> None:
    meta = info(_write(tmp_path / "h.flac", np.stack([_sine(1.5)] * 2)))
    assert (meta.sample_rate, meta.channels, meta.frames, meta.format) == (SR, 2, int(1.5 * SR), "FLAC")


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed")
def test_m4a_through_ffmpeg(tmp_path: Path) -> None:
    wav = _write(tmp_path / "src.wav", _sine(1.0))
    m4a = tmp_path / "a.m4a"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-i", str(wav), str(m4a)], check=True)
    y, sr = load(m4a)
    assert sr == 22050 and abs(len(y) - 22050) < 3000


def test_m4a_without_ffmpeg_names_the_tool(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "a.m4a"
    path.write_bytes(b"\0" * 100)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(MissingDecoderError, match="ffmpeg"):
        load(path)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(min_size=1, max_size=4096), ext=st.sampled_from(["wav", "mp3", "ogg", "flac"]))
def test_random_bytes_never_escape_as_raw_errors(tmp_path: Path, data: bytes, ext: str) -> None:
    path = tmp_path / f"junk.{ext}"
    path.write_bytes(data)
    try:
        y, _ = load(path)
    except AudioError as exc:
        assert str(path) in str(exc)
    else:
        assert np.isfinite(y).all()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut=st.floats(min_value=0.05, max_value=0.95))
def test_any_truncation_of_a_wav_header_or_body_is_handled(tmp_path: Path, cut: float) -> None:
    src = _write(tmp_path / "src.wav", _sine(0.5))
    data = src.read_bytes()
    path = tmp_path / "cut.wav"
    path.write_bytes(data[: max(1, int(len(data) * cut))])
    try:
        y, _ = load(path)
    except AudioError as exc:
        assert str(path) in str(exc)
    else:
        assert np.isfinite(y).all()


@given(arrays(np.float32, st.tuples(st.integers(1, 2), st.integers(0, 300)),
              elements=st.floats(-1, 1, width=32)))
def test_downmix_is_bit_identical_to_the_channel_mean(y: np.ndarray) -> None:
    from audiotaste.audio import downmix

    out = downmix(y)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, y.mean(axis=0))


def test_downmix_of_eight_channels_is_their_mean() -> None:
    from audiotaste.audio import downmix

    y = np.random.default_rng(1).uniform(-1, 1, (8, 1000)).astype(np.float32)
    np.testing.assert_allclose(downmix(y), y.mean(axis=0), rtol=0, atol=1e-6)


def test_mpg123_resync_notes_stay_off_the_terminal(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    """libmpg123 writes "Note: Trying to resync..." to descriptor 2 from C; a user tagging a folder
    must see one clear error per bad file instead, with the decoder's reason inside it."""
    t = np.arange(44100 * 5) / 44100
    good = tmp_path / "good.mp3"
    try:
        sf.write(good, (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), 44100, format="MP3")
    except (sf.LibsndfileError, TypeError, ValueError):
        pytest.skip("this libsndfile cannot write MP3")
    data = bytearray(good.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 3000] = np.random.default_rng(0).bytes(3000)
    bad = tmp_path / "bad.mp3"
    bad.write_bytes(bytes(data))
    capfd.readouterr()
    with pytest.raises(DecodeError) as err:
        load(bad)
    assert str(bad) in str(err.value) and "resync" in str(err.value)  # the reason is in the error
    y, _ = load(good, sr=22050)
    assert y.shape[-1] == pytest.approx(5 * 22050, rel=0.01)
    printed = capfd.readouterr()
    assert "Note:" not in printed.err and "resync" not in printed.err and printed.out == ""
