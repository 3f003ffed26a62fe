"""Calibration records: read from files or iterables, checked against the model's inputs.

Files: an .npz keyed by input name (or `arr_0`...) whose arrays stack records on a new first
axis (an array of exactly the input's shape is one record); ONE's .h5 layout
(`value/<record>/<input>`, or `value/<input>` for one record); a directory of .npy (one record
of a one-input model each) or .npz files (one record each), read in name order."""

from __future__ import annotations

import os
import zipfile
from collections.abc import Iterable, Iterator, Mapping, Sequence, Sized
from pathlib import Path
from typing import Any, Union

import numpy as np

from one_core.errors import InputError
from one_core.ir import Tensor
from one_core.tensorio import read_tensors

Records = Union[str, os.PathLike, Iterable[Any]]


def iter_records(data: Records, inputs: Sequence[Tensor]) -> Iterator[list[np.ndarray]]:
    """Each record as a list of arrays in input order, checked (dtype, shape, NaN)."""
    source = _file_records(Path(data), inputs) if isinstance(data, (str, os.PathLike)) else data
    for i, record in enumerate(source):
        yield _checked(_as_list(record, inputs, i), inputs, i)


def random_records(inputs: Sequence[Tensor], count: int, seed: int = 0) -> list[list[np.ndarray]]:
    """`count` seeded random records (only when asked for: ranges from random data describe no
    real input): N(0, 1) floats, integers over their type's range, booleans; dynamic dimensions 1."""
    if count < 1:
        raise InputError(f"random calibration data: {count} records asked for, at least 1 needed")
    rng = np.random.default_rng(seed)
    records = []
    for _ in range(count):
        record = []
        for t in inputs:
            shape = tuple(1 if d < 0 else d for d in (t.shape_signature or t.shape))
            dtype = np.dtype(t.dtype.numpy)
            if dtype.kind == "f":
                record.append(rng.standard_normal(shape).astype(dtype))
            elif dtype == np.bool_:
                record.append(rng.random(shape) < 0.5)
            else:
                info = np.iinfo(dtype)
                record.append(rng.integers(info.min, int(info.max) + 1, shape).astype(dtype))
        records.append(record)
    return records


def _file_records(path: Path, inputs: Sequence[Tensor]) -> Iterator[Any]:
    names = [t.name for t in inputs]
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in (".npy", ".npz"))
        if not files:
            raise InputError(f"{path}: no .npy or .npz files")
        for f in files:
            if f.suffix.lower() == ".npz":
                yield read_tensors(f, names)
            elif len(inputs) != 1:
                raise InputError(f"{f}: a .npy record holds one input, the model has {len(inputs)}")
            else:
                yield [np.load(f, allow_pickle=False)]
    elif path.suffix.lower() == ".h5" and _h5_has_records(path):
        yield from _h5_records(path, len(inputs))
    else:
        arrays = read_tensors(path, names)
        if all(a.ndim == len(t.shape) for a, t in zip(arrays, inputs)):
            yield arrays
        else:
            yield from zip(*arrays)


def _h5_has_records(path: Path) -> bool:
    import h5py

    with h5py.File(path, "r") as f:
        return _holds_records(f)


def _holds_records(f: Any) -> bool:
    """ONE's layout of several records (`value/<record>/<input>`) in an open h5 file."""
    import h5py

    return "value" in f and "0" in f["value"] and isinstance(f["value"]["0"], h5py.Group)


def _h5_records(path: Path, count: int) -> Iterator[list[np.ndarray]]:
    import h5py

    with h5py.File(path, "r") as f:
        group = f["value"]
        for key in sorted(group, key=int):
            missing = [str(i) for i in range(count) if str(i) not in group[key]]
            if missing:
                raise InputError(f"{path}: record {key} lacks input(s) {', '.join(missing)}")
            yield [np.array(group[key][str(i)]) for i in range(count)]


def _as_list(record: Any, inputs: Sequence[Tensor], index: int) -> list[np.ndarray]:
    if isinstance(record, Mapping):
        missing = [t.name for t in inputs if t.name not in record]
        if missing:
            raise InputError(f"calibration record {index}: no value for input '{missing[0]}'")
        return [np.asarray(record[t.name]) for t in inputs]
    if isinstance(record, np.ndarray):
        record = [record]
    items = [np.asarray(x) for x in record]
    if len(items) != len(inputs):
        raise InputError(f"calibration record {index}: {len(items)} arrays, the model has {len(inputs)} inputs")
    return items


def _checked(arrays: list[np.ndarray], inputs: Sequence[Tensor], index: int) -> list[np.ndarray]:
    for x, t in zip(arrays, inputs):
        where = f"calibration record {index}, input '{t.name}'"
        expected = t.dtype.numpy
        if x.dtype != expected:
            raise InputError(f"{where}: dtype {x.dtype}, expected {np.dtype(expected)}")
        signature = t.shape_signature or t.shape
        if len(x.shape) != len(signature) or any(s >= 0 and s != d for s, d in zip(signature, x.shape)):
            raise InputError(f"{where}: shape {list(x.shape)}, expected {list(signature)}")
        if np.issubdtype(x.dtype, np.floating) and not np.isfinite(x).all():
            raise InputError(f"{where}: contains NaN or infinity")
    return arrays


def count_records(data: Records, inputs: Sequence[Tensor]) -> int | None:
    """How many records `data` holds, when that is known without reading them (for progress)."""
    if isinstance(data, Sized) and not isinstance(data, (str, bytes)):
        return len(data)
    if not isinstance(data, (str, os.PathLike)):
        return None
    path = Path(data)
    if path.is_dir():
        return sum(1 for p in path.iterdir() if p.suffix.lower() in (".npy", ".npz"))
    if path.suffix.lower() == ".h5":
        return _h5_count(path)
    if path.suffix.lower() == ".npz" and inputs:
        shape = _npz_shape(path, (inputs[0].name, "arr_0"))
        return None if shape is None else 1 if len(shape) == len(inputs[0].shape) else shape[0]
    return None


def _h5_count(path: Path) -> int | None:
    import h5py

    try:
        with h5py.File(path, "r") as f:
            return len(f["value"]) if _holds_records(f) else 1
    except (OSError, KeyError):
        return None


def _npz_shape(path: Path, keys: Sequence[str]) -> tuple[int, ...] | None:
    """The shape of the first of `keys` stored in the .npz, read from its header only."""
    try:
        with zipfile.ZipFile(path) as z:
            name = next((f"{k}.npy" for k in keys if f"{k}.npy" in z.namelist()), None)
            if name is None:
                return None
            with z.open(name) as f:
                major, _ = np.lib.format.read_magic(f)
                read = np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
                return tuple(read(f)[0])
    except (OSError, zipfile.BadZipFile, ValueError):
        return None
