"""Calibration as ONE's record-minmax does it: run the float model on representative records,
note each activation's min and max per record, reduce the per-record values to one range.

The range is stored where record-minmax stores it: `tensor.quantization.min/max`."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from one_core.errors import OneError
from one_core.ir import DType, Model, Tensor
from one_core.ir.tensor import Quantization

from .data import Records, iter_records

#: ONE's record-minmax defaults.
DEFAULT_MODE = "percentile"
MIN_PERCENTILE, MAX_PERCENTILE = 1.0, 99.0
MOVING_AVG_BATCH, MOVING_AVG_CONST = 16, 0.1
_FLOAT_LOWEST = float(np.finfo(np.float32).min)


def percentile(values: Sequence[float], p: float) -> float:
    """ONE's getNthPercentile: linear interpolation between the sorted values around p%."""
    if not 0.0 <= p <= 100.0:
        raise OneError(f"percentile must be in [0, 100], got {p}")
    v = sorted(float(x) for x in values)
    if len(v) == 1 or p == 0.0:
        return v[0]
    if p == 100.0:
        return v[-1]
    n = len(v) - 1
    index = math.floor(n * p / 100.0)
    percent_i = index / n
    fraction = (p / 100.0 - percent_i) / ((index + 1.0) / n - percent_i)
    return v[index] + fraction * (v[index + 1] - v[index])


def moving_average(values: Sequence[float], batch: int, const: float, is_min: bool) -> float:
    """ONE's getMovingAverage: the min (or max) of each batch of `batch` records, averaged with
    `avg = avg * (1 - const) + batch_value * const`, starting from the first batch."""
    if batch <= 0 or not 0.0 <= const <= 1.0:
        raise OneError(f"moving average needs batch > 0 and 0 <= const <= 1, got {batch} and {const}")
    pick = min if is_min else max
    batches = [pick(values[i:i + batch]) for i in range(0, len(values), batch)]
    avg = float(batches[0])
    for b in batches[1:]:
        avg = avg * (1.0 - const) + float(b) * const
    return avg


def calibrate(
    model: Model,
    data: Records,
    *,
    mode: str = DEFAULT_MODE,
    min_percentile: float = MIN_PERCENTILE,
    max_percentile: float = MAX_PERCENTILE,
    moving_avg_batch: int = MOVING_AVG_BATCH,
    moving_avg_const: float = MOVING_AVG_CONST,
    on_record: Callable[[int], None] | None = None,
) -> Model:
    """Record the range of every float activation of the main subgraph (inputs and operator
    outputs) over `data` and store it in `tensor.quantization.min/max`; returns `model`.

    `data`: an .npz/.h5 file, a directory of .npy/.npz records, or an iterable of records (a
    list of arrays in input order, a dict by input name, or one array for one input)."""
    if mode not in ("percentile", "moving_average"):
        raise OneError(f"unknown calibration mode '{mode}' (known: percentile, moving_average)")
    tensors = activations(model)
    mins: list[list[float]] = [[] for _ in tensors]
    maxs: list[list[float]] = [[] for _ in tensors]
    session = recording_session(model, tensors)
    count = 0
    for record in iter_records(data, model.main.inputs):
        values = session.run(record)
        for i, t in enumerate(tensors):
            lo, hi = _record_range(values[session.outputs[i].name], t)
            mins[i].append(lo)
            maxs[i].append(hi)
        count += 1
        if on_record is not None:
            on_record(count)
    if count == 0:
        raise OneError("calibration data holds no records")
    for t, lo_values, hi_values in zip(tensors, mins, maxs):
        if mode == "percentile":
            lo, hi = percentile(lo_values, min_percentile), percentile(hi_values, max_percentile)
        else:
            lo = moving_average(lo_values, moving_avg_batch, moving_avg_const, True)
            hi = moving_average(hi_values, moving_avg_batch, moving_avg_const, False)
        t.quantization = Quantization(min=np.array([lo], np.float32), max=np.array([hi], np.float32))
    return model


def activations(model: Model) -> list[Tensor]:
    """The float tensors record-minmax observes: main-graph inputs and operator outputs."""
    sg = model.main
    seen: set[int] = set()
    out: list[Tensor] = []
    for t in [*sg.inputs, *(o for op in sg.operators for o in op.outputs)]:
        if t.dtype == DType.FLOAT32 and t.data is None and id(t) not in seen:
            seen.add(id(t))
            out.append(t)
    return out


def recording_session(model: Model, tensors: list[Tensor]) -> Any:
    """A runtime session whose outputs are `tensors` (the model's own outputs are restored)."""
    import one_core

    sg = model.main
    saved = sg.outputs
    sg.outputs = list(tensors)
    try:
        return one_core.Session(model, backend="runtime")
    finally:
        sg.outputs = saved


def _record_range(x: np.ndarray, t: Tensor) -> tuple[float, float]:
    """min and max ignoring NaN and float32's lowest value (record-minmax's rule)."""
    x = np.asarray(x, np.float32)
    ok = ~np.isnan(x) & (x != _FLOAT_LOWEST)
    if not ok.any():
        raise OneError(f"tensor '{t.name}': all values are NaN during calibration")
    kept = x[ok]
    return float(kept.min()), float(kept.max())
