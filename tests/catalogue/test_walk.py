"""Walking upload folders: links, loops, hidden files, content ids."""

from __future__ import annotations

import hashlib
import os

from hypothesis import given, settings
from hypothesis import strategies as st

from audiotaste.catalogue.walk import WalkFailure, WalkFile, track_id_of, walk


def _touch(path, data=b"RIFFdata"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_walk_finds_audio_sorted_and_skips_hidden_and_other_files(tmp_path):
    _touch(tmp_path / "b" / "2.flac")
    _touch(tmp_path / "a" / "1.MP3")
    _touch(tmp_path / "a" / "notes.txt")
    _touch(tmp_path / "a" / "._1.MP3")  # macOS AppleDouble shadow
    _touch(tmp_path / ".hidden" / "3.wav")
    found = list(walk([tmp_path]))
    assert [os.path.relpath(f.path, tmp_path) for f in found] == ["a/1.MP3", "b/2.flac"]
    assert all(isinstance(f, WalkFile) and f.size == 8 for f in found)


def test_explicit_files_are_taken_whatever_their_name(tmp_path):
    f = _touch(tmp_path / "song.bin")
    assert [x.path for x in walk([f])] == [str(f)]


def test_symlink_loops_and_broken_links_end_with_clear_failures(tmp_path):
    _touch(tmp_path / "music" / "a.wav")
    os.symlink(tmp_path / "music", tmp_path / "music" / "again")  # folder loop
    os.symlink("missing.wav", tmp_path / "music" / "broken.wav")
    os.symlink("loop2.wav", tmp_path / "music" / "loop1.wav")
    os.symlink("loop1.wav", tmp_path / "music" / "loop2.wav")
    items = {os.path.basename(x.path): x for x in walk([tmp_path])}
    assert isinstance(items["a.wav"], WalkFile)
    assert "broken symbolic link" in items["broken.wav"].error.reason
    assert items["loop1.wav"].error.reason == "symbolic link loop"
    assert items["loop1.wav"].error.kind == "symlink_loop"  # its own kind, not a missing file
    assert items["broken.wav"].error.kind == "not_found"
    assert len(items) == 4  # a.wav once, despite the loop


def test_missing_input_empty_file_and_fifo(tmp_path):
    empty = _touch(tmp_path / "empty.wav", b"")
    os.mkfifo(tmp_path / "pipe.wav")
    out = {os.path.basename(x.path): x for x in walk([tmp_path / "nope.wav", empty,
                                                       tmp_path / "pipe.wav"])}
    assert all(isinstance(x, WalkFailure) for x in out.values())
    assert out["nope.wav"].error.kind == "not_found"
    assert out["empty.wav"].error.kind == "empty"
    assert out["pipe.wav"].error.kind == "unsupported_format"


def test_folder_named_like_audio_is_walked_into(tmp_path):
    _touch(tmp_path / "album.wav" / "inner.ogg")
    assert [os.path.basename(x.path) for x in walk([tmp_path])] == ["inner.ogg"]


def test_track_id_is_sha256_prefix_and_rename_stable(tmp_path):
    data = os.urandom(3 << 20)  # spans several hash chunks
    a = _touch(tmp_path / "a.wav", data)
    b = tmp_path / "renamed.flac"
    os.rename(a, b)
    assert track_id_of(b) == hashlib.sha256(data).hexdigest()[:16]


@settings(max_examples=30, deadline=None)
@given(st.lists(st.text(alphabet=st.characters(blacklist_characters="/\x00",
                                               blacklist_categories=["Cs"]),
                        min_size=1, max_size=12), max_size=6, unique=True))
def test_walk_never_raises_on_arbitrary_names(tmp_path_factory, names):
    root = tmp_path_factory.mktemp("names")
    for n in names:
        if n in (".", ".."):
            continue
        _touch(root / f"{n}.wav")
    found = list(walk([root]))
    # walk sorts file names ("0..wav" before "0.wav"), not the stems
    expected = [n[:-4] for n in sorted(f"{n}.wav" for n in names if n not in (".", "..") and not n.startswith("."))]
    assert [os.path.basename(x.path)[:-4] for x in found] == expected
