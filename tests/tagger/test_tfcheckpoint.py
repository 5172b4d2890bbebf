"""Our TensorFlow checkpoint reader against a tiny checkpoint that TensorFlow itself wrote.

The fixture was made by ``scripts/make_musicnn_fixtures.py`` (tf.compat.v1.train.Saver, V2 format); the
values it must hold are in ``tiny_expected.npz``. No TensorFlow is needed here.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audiotaste.errors import ModelError
from audiotaste.tagger.tfcheckpoint import crc32c, list_variables, read_checkpoint

FIXTURES = Path(__file__).parents[1] / "fixtures" / "musicnn"
PREFIX = FIXTURES / "tiny_ckpt" / "model"
INDEX = Path(f"{PREFIX}.index")
DATA = Path(f"{PREFIX}.data-00000-of-00001")


def expected() -> dict[str, np.ndarray]:
    with np.load(FIXTURES / "tiny_expected.npz", allow_pickle=False) as z:
        return {k.replace("__", "/"): z[k] for k in z.files}


def copy_ckpt(tmp_path: Path) -> tuple[Path, Path, Path]:
    shutil.copy(INDEX, tmp_path / INDEX.name)
    shutil.copy(DATA, tmp_path / DATA.name)
    return tmp_path / "model", tmp_path / INDEX.name, tmp_path / DATA.name


def test_crc32c_known_vectors() -> None:
    # RFC 3720 (iSCSI) B.4 test vectors, plus the classic check string.
    assert crc32c(b"123456789") == 0xE3069283
    assert crc32c(bytes(32)) == 0x8A9136AA
    assert crc32c(b"\xff" * 32) == 0x62A8AB43
    assert crc32c(bytes(range(32))) == 0x46DD794E
    # incremental == one shot, across the 8-byte fast path and the byte tail
    assert crc32c(b"3456789", crc32c(b"12")) == 0xE3069283


def test_reads_every_dtype_and_shape_exactly() -> None:
    got = read_checkpoint(PREFIX)
    want = expected()
    assert set(got) == set(want)
    for name, value in want.items():
        assert got[name].dtype == value.dtype, name
        assert got[name].shape == value.shape, name
        np.testing.assert_array_equal(got[name], value, err_msg=name)
    assert got["global_step"] == 123456789012  # needs all 64 bits
    assert got["stats/half"][2] == 65504.0  # float16 max survives
    assert got["flags"].tolist() == [True, False, True]


def test_list_variables_reports_shapes_without_reading() -> None:
    entries = list_variables(PREFIX)
    assert entries["dense/kernel"].shape == (3, 4)
    assert entries["dense/kernel"].dtype == "<f4"
    assert entries["counts/int32"].shape == (2, 2, 2)
    assert entries["global_step"].shape == ()
    assert entries["empty"].size == 0
    assert entries["dense/kernel"].to_dict()["size"] == 48


def test_subset_and_unknown_name(tmp_path: Path) -> None:
    got = read_checkpoint(PREFIX, names=["dense/bias"])
    assert list(got) == ["dense/bias"]
    with pytest.raises(ModelError, match="no variable"):
        read_checkpoint(PREFIX, names=["nope"])


def test_missing_files_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(ModelError) as e:
        read_checkpoint(tmp_path / "absent")
    assert e.value.path == str(tmp_path / "absent.index")
    assert "missing" in e.value.reason
    prefix, _, data = copy_ckpt(tmp_path)
    data.unlink()
    with pytest.raises(ModelError, match="data file is missing") as e:
        read_checkpoint(prefix)
    assert e.value.path == str(data)


def test_truncated_data_is_detected(tmp_path: Path) -> None:
    prefix, _, data = copy_ckpt(tmp_path)
    data.write_bytes(data.read_bytes()[:-3])
    with pytest.raises(ModelError, match="truncated"):
        read_checkpoint(prefix)


def test_corrupt_data_fails_checksum_unless_verification_is_off(tmp_path: Path) -> None:
    prefix, _, data = copy_ckpt(tmp_path)
    raw = bytearray(data.read_bytes())
    offset = list_variables(prefix)["dense/kernel"].offset
    raw[offset] ^= 0x40
    data.write_bytes(bytes(raw))
    with pytest.raises(ModelError, match="checksum mismatch in 'dense/kernel'"):
        read_checkpoint(prefix)
    unchecked = read_checkpoint(prefix, verify=False)
    assert not np.array_equal(unchecked["dense/kernel"], expected()["dense/kernel"])


@pytest.mark.parametrize("cut", [1, 10, 47, 100, 360])
def test_truncated_index_is_detected(tmp_path: Path, cut: int) -> None:
    prefix, index, _ = copy_ckpt(tmp_path)
    index.write_bytes(index.read_bytes()[:-cut])
    with pytest.raises(ModelError) as e:
        read_checkpoint(prefix)
    assert e.value.path == str(index)


def test_not_an_index(tmp_path: Path) -> None:
    (tmp_path / "x.index").write_bytes(b"PK\x03\x04" + bytes(60))
    with pytest.raises(ModelError, match="bad table magic"):
        list_variables(tmp_path / "x")


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(pos=st.integers(0, INDEX.stat().st_size - 1), xor=st.integers(1, 255))
def test_any_flipped_index_byte_is_an_error_or_harmless(tmp_path: Path, pos: int, xor: int) -> None:
    prefix, index, _ = copy_ckpt(tmp_path)
    raw = bytearray(INDEX.read_bytes())
    raw[pos] ^= xor
    index.write_bytes(bytes(raw))
    try:
        got = read_checkpoint(prefix)
    except ModelError:
        return
    # only the footer's padding is unprotected: then the content must be intact
    want = expected()
    assert set(got) == set(want)
    for name in want:
        np.testing.assert_array_equal(got[name], want[name])


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(blob=st.binary(max_size=400), real_footer=st.booleans())
def test_garbage_index_raises_model_error_only(
    tmp_path: Path, blob: bytes, real_footer: bool
) -> None:
    # with the real footer appended, its block handles point into garbage
    (tmp_path / "g.index").write_bytes(blob + (INDEX.read_bytes()[-48:] if real_footer else b""))
    with pytest.raises(ModelError):
        read_checkpoint(tmp_path / "g")
