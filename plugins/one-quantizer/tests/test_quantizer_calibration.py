"""Calibration modes against numpy computations of ONE's record-minmax definitions, and the
data sources (.npz, ONE's .h5, a directory, an iterable) giving the same ranges."""

from __future__ import annotations

import sys

import h5py
import numpy as np
import pytest
import tensorflow as tf

import one_core
import one_quantizer
from one_core.cli import cli
from one_quantizer.data import count_records
from qharness import tflite_model


def scaled(x):
    return tf.nn.relu(x * 2.0)


@pytest.fixture()
def model():
    return one_core.load(tflite_model(scaled, [((1, 4, 4, 2), np.float32)]))


def _records(n: int = 40) -> np.ndarray:
    rng = np.random.default_rng(5)
    return (rng.standard_normal((n, 1, 4, 4, 2)) * rng.uniform(0.5, 3.0, (n, 1, 1, 1, 1))).astype(np.float32)


def _per_record(records: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    flat = records.reshape(len(records), -1)
    return flat.min(1), flat.max(1)


def test_percentile_is_numpy_linear_percentile_of_record_ranges(model):
    records = _records()
    one_quantizer.calibrate(model, list(records), min_percentile=3.0, max_percentile=95.0)
    lo, hi = _per_record(records)
    q = model.main.inputs[0].quantization
    np.testing.assert_allclose([q.min[0], q.max[0]], [np.percentile(lo, 3.0), np.percentile(hi, 95.0)], rtol=1e-6)
    out = model.main.outputs[0].quantization  # relu(2x): per-record ranges of the output
    lo2, hi2 = _per_record(np.maximum(records * 2, 0))
    np.testing.assert_allclose([out.min[0], out.max[0]], [np.percentile(lo2, 3), np.percentile(hi2, 95)], rtol=1e-6)


def test_moving_average(model):
    records = _records(37)
    one_quantizer.calibrate(model, list(records), mode="moving_average", moving_avg_batch=8, moving_avg_const=0.2)
    lo, hi = _per_record(records)
    expect = []
    for values, pick in ((lo, np.min), (hi, np.max)):
        avg = None
        for start in range(0, len(values), 8):
            b = pick(values[start:start + 8])
            avg = b if avg is None else avg * 0.8 + b * 0.2
        expect.append(avg)
    q = model.main.inputs[0].quantization
    np.testing.assert_allclose([q.min[0], q.max[0]], expect, rtol=1e-6)


def test_percentile_function_matches_numpy():
    values = np.random.default_rng(0).standard_normal(101)
    for p in (0.0, 1.0, 37.5, 99.0, 100.0):
        assert one_quantizer.percentile(values, p) == pytest.approx(np.percentile(values, p), rel=1e-12)


def test_file_sources_agree(model, tmp_path):
    records = _records(6)
    name = model.main.inputs[0].name
    np.savez(tmp_path / "calib.npz", **{name: records})
    with h5py.File(tmp_path / "calib.h5", "w") as f:
        for i, r in enumerate(records):
            f.create_dataset(f"value/{i}/0", data=r)
    (tmp_path / "dir").mkdir()
    for i, r in enumerate(records):
        np.save(tmp_path / "dir" / f"{i:03d}.npy", r)
    np.savez(tmp_path / "one.npz", records[0])
    ranges = []
    for source in (list(records), tmp_path / "calib.npz", tmp_path / "calib.h5", tmp_path / "dir"):
        seen: list[int] = []
        one_quantizer.calibrate(model, source, on_record=seen.append)
        q = model.main.inputs[0].quantization
        ranges.append((float(q.min[0]), float(q.max[0])))
        assert seen == list(range(1, 7)) and count_records(source, model.main.inputs) == 6, source
    assert len(set(ranges)) == 1, ranges
    assert count_records(tmp_path / "one.npz", model.main.inputs) == 1
    assert count_records(iter(records), model.main.inputs) is None


def test_the_command_shows_calibration_progress_on_a_terminal(tmp_path, capsys, monkeypatch):
    path = tflite_model(scaled, [((1, 4, 4, 2), np.float32)])
    np.savez(tmp_path / "calib.npz", _records(5))
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    with pytest.raises(SystemExit) as e:
        cli(["quantize", str(path), "-o", str(tmp_path / "q.circle"), "--input_data", str(tmp_path / "calib.npz")])
    assert e.value.code == 0
    assert "calibrating (records)" in (err := capsys.readouterr().err) and "5/5" in err, err
