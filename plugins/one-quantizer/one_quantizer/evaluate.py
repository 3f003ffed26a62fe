"""How far a quantized model is from its float original, on held-back data.

Per output: MAE, MSE, MAPE and MPEIR (mean over records of the peak absolute error divided by
the float output's range), and for outputs with a class axis the top-1 agreement and the top-5
overlap. Per layer: the SQNR of every activation the two models share by name (quantized values
dequantized with their scale and zero point), over all records, so users see where the loss
comes from. Quantized inputs receive the float records quantized with the input's parameters."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from one_core.errors import OneError
from one_core.ir import DType, Model, Tensor

from .calibration import activations, recording_session
from .data import Records, iter_records

#: Top-k of `OutputError.topk_overlap`.
TOP_K = 5


@dataclass
class OutputError:
    """Error of one model output, averaged over the records."""

    name: str
    mae: float
    mse: float
    mape: float  # percent; elements where the float value is 0 are skipped
    mpeir: float
    sqnr_db: float
    top1_agreement: float | None = None
    topk_overlap: float | None = None


@dataclass
class LayerError:
    """SQNR of one activation shared by the float and the quantized model."""

    name: str
    operator: str
    sqnr_db: float


@dataclass
class Evaluation:
    records: int
    outputs: list[OutputError]
    layers: list[LayerError] = field(default_factory=list)

    def as_dict(self) -> dict:
        """Plain data for JSON (an infinite SQNR, no error at all, becomes None)."""
        return _finite(asdict(self))

    def format(self, worst: int = 10) -> str:
        """A table per output, then the `worst` layers by SQNR (0: all)."""
        lines = [f"evaluated on {self.records} record(s)",
                 f"{'output':<40} {'MAE':>10} {'MSE':>10} {'MAPE %':>9} {'MPEIR':>8} {'SQNR dB':>8} "
                 f"{'top-1':>6} {f'top-{TOP_K}':>6}"]
        for o in self.outputs:
            top = [f"{v:6.3f}" if v is not None else f"{'-':>6}" for v in (o.top1_agreement, o.topk_overlap)]
            lines.append(f"{o.name[-40:]:<40} {o.mae:10.4g} {o.mse:10.4g} {o.mape:9.3g} {o.mpeir:8.4f} "
                         f"{o.sqnr_db:8.2f} {top[0]} {top[1]}")
        ranked = sorted(self.layers, key=lambda layer: layer.sqnr_db)
        shown = ranked if worst <= 0 else ranked[:worst]
        if shown:
            lines.append(f"layers by SQNR, worst first ({len(shown)} of {len(ranked)}):")
            lines.extend(f"  {layer.sqnr_db:8.2f} dB  {layer.operator:<20} {layer.name}" for layer in shown)
        return "\n".join(lines)


def evaluate(float_model: Model, quantized_model: Model, test_data: Records) -> Evaluation:
    """Run both models on `test_data` (records for the float model's inputs) and measure."""
    f_out, q_out = float_model.main.outputs, quantized_model.main.outputs
    if len(f_out) != len(q_out) or len(float_model.main.inputs) != len(quantized_model.main.inputs):
        raise OneError("the quantized model's inputs and outputs do not match the float model's")
    shared = _shared_activations(float_model, quantized_model)
    f_watch, q_watch = [*f_out, *(f for f, _ in shared)], [*q_out, *(q for _, q in shared)]
    f_session = recording_session(float_model, list({id(t): t for t in f_watch}.values()))
    q_session = recording_session(quantized_model, list({id(t): t for t in q_watch}.values()))
    outputs = [_OutputAccumulator(t.name) for t in f_out]
    layers = [_Sqnr() for _ in shared]
    count = 0
    for record in iter_records(test_data, float_model.main.inputs):
        q_record = [_to_input(x, t) for x, t in zip(record, quantized_model.main.inputs)]
        f_run, q_run = f_session.run(record), q_session.run(q_record)
        f_vals = [np.asarray(f_run[t.name], np.float64) for t in f_watch]
        q_vals = [_dequantized(q_run[t.name], t) for t in q_watch]
        for acc, f, q in zip([*outputs, *layers], f_vals, q_vals):
            acc.add(f, q)
        count += 1
    if count == 0:
        raise OneError("test data holds no records")
    return Evaluation(
        count,
        [acc.result() for acc in outputs],
        [LayerError(f.name, f.producer.type if f.producer is not None else "input", acc.db())
         for (f, _), acc in zip(shared, layers)],
    )


def _shared_activations(float_model: Model, quantized_model: Model) -> list[tuple[Tensor, Tensor]]:
    """(float tensor, quantized tensor) pairs of activations with the same name, the quantized
    one float or carrying a scale (its real values are known)."""
    by_name = {t.name: t for t in quantized_model.main.tensors if t.data is None}
    pairs = []
    for f in activations(float_model):
        q = by_name.get(f.name)
        if q is not None and (q.dtype == DType.FLOAT32 or _scale(q) is not None):
            pairs.append((f, q))
    return pairs


def _scale(t: Tensor) -> tuple[np.ndarray, np.ndarray] | None:
    q = t.quantization
    if q is None or q.scale is None or q.scale.size == 0:
        return None
    zero = q.zero_point if q.zero_point is not None and q.zero_point.size else np.zeros(q.scale.size, np.int64)
    axis = q.quantized_dimension if q.scale.size > 1 else None
    shape = [1] * len(t.shape)
    if axis is not None:
        shape[axis] = q.scale.size
        return q.scale.reshape(shape).astype(np.float64), zero.reshape(shape).astype(np.float64)
    return q.scale.astype(np.float64), zero.astype(np.float64)


def _dequantized(value: np.ndarray, t: Tensor) -> np.ndarray:
    params = _scale(t) if t.dtype != DType.FLOAT32 else None
    if params is None:
        return np.asarray(value, np.float64)
    scale, zero = params
    return (np.asarray(value, np.float64) - zero) * scale


def _to_input(x: np.ndarray, t: Tensor) -> np.ndarray:
    """A float record for a quantized input: rounded to the input's integers."""
    if t.dtype == DType.FLOAT32:
        return x
    params = _scale(t)
    if params is None:
        return x.astype(t.dtype.numpy)
    scale, zero = params
    info = np.iinfo(t.dtype.numpy)
    return np.clip(np.round(np.asarray(x, np.float64) / scale) + zero, info.min, info.max).astype(t.dtype.numpy)


class _Sqnr:
    def __init__(self) -> None:
        self.signal = 0.0
        self.noise = 0.0

    def add(self, f: np.ndarray, q: np.ndarray) -> None:
        f = np.asarray(f, np.float64)
        self.signal += float(np.sum(f * f))
        self.noise += float(np.sum((f - q) ** 2))

    def db(self) -> float:
        if self.noise == 0.0:
            return math.inf
        return 10.0 * math.log10(max(self.signal, 1e-300) / self.noise)


class _OutputAccumulator(_Sqnr):
    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name
        self.sums = {"mae": 0.0, "mse": 0.0, "mape": 0.0, "mpeir": 0.0}
        self.count = 0
        self.top1: list[float] = []
        self.topk: list[float] = []

    def add(self, f: np.ndarray, q: np.ndarray) -> None:
        super().add(f, q)
        f = np.asarray(f, np.float64)
        err = np.abs(f - q)
        nonzero = f != 0
        self.sums["mae"] += float(err.mean()) if err.size else 0.0
        self.sums["mse"] += float((err * err).mean()) if err.size else 0.0
        self.sums["mape"] += float(np.mean(err[nonzero] / np.abs(f[nonzero])) * 100) if nonzero.any() else 0.0
        interval = float(f.max() - f.min()) if f.size else 0.0
        self.sums["mpeir"] += float(err.max()) / interval if interval > 0 else 0.0
        self.count += 1
        if f.ndim >= 1 and f.shape[-1] > 1:
            rows_f, rows_q = f.reshape(-1, f.shape[-1]), np.asarray(q).reshape(-1, f.shape[-1])
            k = min(TOP_K, f.shape[-1])
            for a, b in zip(rows_f, rows_q):
                self.top1.append(float(np.argmax(a) == np.argmax(b)))
                self.topk.append(len(set(_top(a, k)) & set(_top(b, k))) / k)

    def result(self) -> OutputError:
        n = max(self.count, 1)
        return OutputError(self.name, *(self.sums[k] / n for k in ("mae", "mse", "mape", "mpeir")), self.db(),
                           _mean(self.top1), _mean(self.topk))


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def _top(values: np.ndarray, k: int) -> Sequence[int]:
    return list(np.argsort(-values, kind="stable")[:k])


def _mean(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None
