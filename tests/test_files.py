"""mgen.files.atomic_path: a file is replaced whole or not at all."""
import numpy as np
import pytest

from mgen.files import atomic_path


def test_a_failed_write_leaves_the_old_file_and_no_temporary_one(tmp_path):
    path = tmp_path / "bars.npz"
    with atomic_path(path) as tmp:
        np.savez(tmp, x=np.arange(3))
    assert tmp.suffix == ".npz" and tmp.name.startswith(".bars.") and not tmp.exists()
    with pytest.raises(OSError):
        with atomic_path(path) as tmp:
            np.savez(tmp, x=np.arange(5))  # written in full, then the block fails before the rename
            raise OSError(28, "No space left on device")
    assert np.load(path)["x"].tolist() == [0, 1, 2]
    assert [p.name for p in tmp_path.iterdir()] == ["bars.npz"]


def test_two_writers_of_one_file_get_temporary_names_of_their_own(tmp_path):
    path = tmp_path / "study.json"
    with atomic_path(path) as first, atomic_path(path) as second:
        assert first != second
        first.write_text("1")
        second.write_text("2")
    assert path.read_text() == "1"  # the outer block renames last: the last rename wins, with a whole file
    assert [p.name for p in tmp_path.iterdir()] == ["study.json"]
