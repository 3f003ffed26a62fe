"""Reading and writing sets of named tensors: `.npz` (keyed by tensor name) and ONE's `.h5`
layout (group `value` with datasets `0`..`n-1` in model order; names in group `name`)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from .errors import InputError


def read_tensors(path: str | os.PathLike[str], names: Sequence[str]) -> list[np.ndarray]:
    """The tensors for `names` (model order) from an .npz or .h5 file.

    An .npz may key arrays by tensor name or by position (`arr_0`, ... as numpy.savez writes);
    an .h5 file follows ONE's layout."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    if path.suffix.lower() == ".h5":
        return _read_h5(path, len(names))
    try:
        with np.load(path, allow_pickle=False) as data:
            files = set(data.files)
            if all(n in files for n in names):
                return [data[n] for n in names]
            positional = [f"arr_{i}" for i in range(len(names))]
            if all(k in files for k in positional):
                return [data[k] for k in positional]
            raise InputError(
                f"{path}: expected arrays named {', '.join(names)} (or arr_0..arr_{len(names) - 1}), "
                f"found {', '.join(sorted(files)) or 'none'}"
            )
    except InputError:
        raise
    except Exception as exc:
        raise InputError(f"{path}: cannot read tensors ({exc})") from None


def write_tensors(path: str | os.PathLike[str], tensors: Mapping[str, np.ndarray]) -> Path:
    """Write tensors (in order) to .npz or ONE's .h5 layout, atomically."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".npz", ".h5"):
        raise InputError(f"{path}: tensor files are .npz or .h5")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent if str(path.parent) else ".")
    os.close(fd)
    try:
        if suffix == ".h5":
            _write_h5(Path(tmp), tensors)
        else:
            with open(tmp, "wb") as f:
                np.savez(f, **dict(tensors))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _h5py():
    try:
        import h5py
    except ImportError:
        raise InputError("reading and writing .h5 tensor files needs h5py (pip install h5py)") from None
    return h5py


def _read_h5(path: Path, count: int) -> list[np.ndarray]:
    h5py = _h5py()
    try:
        with h5py.File(path, "r") as f:
            if "value" not in f:
                raise InputError(f"{path}: no group 'value' (ONE's layout: value/0 .. value/{count - 1})")
            group = f["value"]
            missing = [str(i) for i in range(count) if str(i) not in group]
            if missing:
                raise InputError(f"{path}: group 'value' lacks dataset(s) {', '.join(missing)}")
            return [np.array(group[str(i)]) for i in range(count)]
    except InputError:
        raise
    except Exception as exc:
        raise InputError(f"{path}: cannot read HDF5 tensors ({exc})") from None


def _write_h5(path: Path, tensors: Mapping[str, np.ndarray]) -> None:
    h5py = _h5py()
    with h5py.File(path, "w") as f:
        values, names = f.create_group("value"), f.create_group("name")
        for i, (name, array) in enumerate(tensors.items()):
            values.create_dataset(str(i), data=np.asarray(array))
            names.create_dataset(str(i), data=name)
