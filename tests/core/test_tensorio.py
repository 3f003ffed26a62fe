"""Tensor files: .npz by name or position, ONE's .h5 layout, clear errors."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from one_core.errors import InputError
from one_core.tensorio import read_tensors, write_tensors


def test_npz_and_h5_round_trip(tmp_path) -> None:
    tensors = {"image": np.arange(6, dtype=np.float32).reshape(2, 3), "mask": np.array([True, False])}
    for suffix in (".npz", ".h5"):
        path = write_tensors(tmp_path / f"t{suffix}", tensors)
        back = read_tensors(path, ["image", "mask"])
        for got, want in zip(back, tensors.values()):
            np.testing.assert_array_equal(got, want)
            assert got.dtype == want.dtype
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.h5", "t.npz"]  # no temporary files


def test_h5_follows_ones_layout(tmp_path) -> None:
    path = write_tensors(tmp_path / "in.h5", {"a": np.ones(2, np.int8), "b": np.zeros(3, np.float32)})
    with h5py.File(path, "r") as f:
        assert sorted(f["value"]) == ["0", "1"] and f["value/1"].shape == (3,)
        assert f["name/0"][()] == b"a"
    with h5py.File(tmp_path / "one.h5", "w") as f:  # as ONE's tools write it: values only
        f.create_group("value").create_dataset("0", data=np.full((2, 2), 7, np.int32))
    (x,) = read_tensors(tmp_path / "one.h5", ["whatever"])
    assert x.tolist() == [[7, 7], [7, 7]]


def test_positional_npz(tmp_path) -> None:
    np.savez(tmp_path / "p.npz", np.ones(2), np.zeros(1))
    a, b = read_tensors(tmp_path / "p.npz", ["x", "y"])
    assert a.tolist() == [1.0, 1.0] and b.tolist() == [0.0]


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda d: np.savez(d / "f.npz", other=np.ones(1)), "expected arrays named x (or arr_0..arr_0), found other"),
        (lambda d: (d / "f.npz").write_bytes(b"not a zip"), "cannot read tensors"),
        (lambda d: h5py.File(d / "f.h5", "w").close(), "no group 'value'"),
    ],
)
def test_bad_files(tmp_path, make, message) -> None:
    make(tmp_path)
    path = next(tmp_path.iterdir())
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_tensors(path, ["x"])


def test_missing_file_and_bad_suffix(tmp_path) -> None:
    with pytest.raises(InputError, match="no such file"):
        read_tensors(tmp_path / "nope.npz", ["x"])
    with pytest.raises(InputError, match="tensor files are .npz or .h5"):
        write_tensors(tmp_path / "out.txt", {"x": np.ones(1)})
