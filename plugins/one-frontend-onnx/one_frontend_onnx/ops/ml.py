"""Classical machine-learning operators: Binarizer, ArrayFeatureExtractor and TreeEnsemble (domain
ai.onnx.ml), and TfIdfVectorizer, composed of circle builtins.

TreeEnsemble evaluates every decision node of the forest at once (a GATHER of the features, one
comparison per mode), then every leaf: a leaf is reached when all the decisions on its path went
its way (a GATHER of those decisions, compared with the path's branches). Leaf weights are summed
per target by a BATCH_MATMUL, or their minimum or maximum taken by UNSORTED_SEGMENT_MIN/MAX.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import onnx

from one_core.ir import DType, Tensor
from one_core.ir import options as circle_options

from ..context import Context, Node, Unsupported
from . import converts
from .common import Value, value_shape
from .misc import Calc, bind, float_input, static_dim

ML = "ai.onnx.ml"


@converts("Binarizer", domain=ML)
def binarizer(cx: Context, node: Node) -> None:
    """1 where x > threshold, else 0, in x's type (integers compare with the threshold's floor)."""
    c = Calc(cx, node)
    x = cx.tensor(node.input(0))
    threshold = float(node.attr("threshold", 0.0))
    if x.dtype not in (DType.FLOAT32, DType.FLOAT16, DType.INT32, DType.INT64):
        raise Unsupported(f"element type {x.dtype.name}")
    limit = threshold if x.dtype in (DType.FLOAT32, DType.FLOAT16) else np.floor(threshold)
    bind(cx, node.outputs[0], c.cast(c.binary("GREATER", x, float(limit)), x.dtype))


@converts("ArrayFeatureExtractor", domain=ML)
def array_feature_extractor(cx: Context, node: Node) -> None:
    """A GATHER along the last axis of the flattened indices (a vector input gives one row)."""
    x = node.input(0)
    c = Calc(cx, node)
    y = c.gather(cx.tensor(x), c.reshape(c.value(node.input(1)), [-1]), axis=-1)
    bind(cx, node.outputs[0], c.reshape(y, [1, -1]) if cx.need_rank(node, x) == 1 else y)


# --- TreeEnsemble ------------------------------------------------------------------------------------

LEQ, LT, GTE, GT, EQ, NEQ, MEMBER = range(7)
COMPARE = {LEQ: "LESS_EQUAL", LT: "LESS", GTE: "GREATER_EQUAL", GT: "GREATER", EQ: "EQUAL", NEQ: "NOT_EQUAL"}
SUM_, AVERAGE, MIN_, MAX_ = 1, 0, 2, 3


def _array(value: object) -> np.ndarray:
    return onnx.numpy_helper.to_array(value) if isinstance(value, onnx.TensorProto) else np.asarray(value)


@dataclass
class Forest:
    """A TreeEnsemble's trees as decision columns and leaf paths."""

    features: list[int] = field(default_factory=list)  # per decision column
    tests: list[tuple[int, object]] = field(default_factory=list)  # (mode, split or member set)
    missing_true: list[bool] = field(default_factory=list)
    paths: list[list[tuple[int, bool]]] = field(default_factory=list)  # per leaf: (column, branch)
    leaves: list[int] = field(default_factory=list)  # leaf index per path


def _forest(node: Node) -> Forest:
    modes = [int(m) for m in _array(node.attr("nodes_modes")).reshape(-1)]
    splits = _array(node.attr("nodes_splits")).reshape(-1).astype(np.float64)
    true_ids, false_ids = node.attr("nodes_truenodeids"), node.attr("nodes_falsenodeids")
    true_leaf, false_leaf = node.attr("nodes_trueleafs"), node.attr("nodes_falseleafs")
    missing = node.attr("nodes_missing_value_tracks_true") or [0] * len(modes)
    members = iter(_array(node.attr("membership_values", [])).reshape(-1).astype(np.float64).tolist())
    sets: dict[int, set[float]] = {}
    for i, mode in enumerate(modes):  # member sets come in the order of the nodes, each ended by NaN
        if mode == MEMBER:
            sets[i] = set()
            for v in members:
                if np.isnan(v):
                    break
                sets[i].add(v)
    forest = Forest()
    columns: dict[int, int] = {}

    def column(i: int) -> int:
        if i not in columns:
            columns[i] = len(forest.features)
            forest.features.append(int(node.attr("nodes_featureids")[i]))
            forest.tests.append((modes[i], sets[i] if modes[i] == MEMBER else float(splits[i])))
            forest.missing_true.append(bool(missing[i]))
        return columns[i]

    def walk(i: int, path: list[tuple[int, bool]]) -> None:
        for branch, ids, leaf in ((True, true_ids, true_leaf), (False, false_ids, false_leaf)):
            step = [*path, (column(i), branch)]
            if leaf[i]:
                forest.paths.append(step)
                forest.leaves.append(int(ids[i]))
            else:
                walk(int(ids[i]), step)

    for root in node.attr("tree_roots"):
        if true_leaf[root] and false_leaf[root] and true_ids[root] == false_ids[root]:
            forest.paths.append([])
            forest.leaves.append(int(root))
        else:
            walk(int(root), [])
    return forest


def _decisions(c: Calc, x: Tensor, forest: Forest) -> tuple[Value, list[int]]:
    """Every decision column's outcome (N, columns), grouped by test, and each column's position."""
    groups: dict[int, list[tuple[int, float]]] = {}  # mode -> (column, split)
    members: list[int] = []
    for j, (mode, split) in enumerate(forest.tests):
        if mode == MEMBER:
            members.append(j)
            continue
        if mode not in COMPARE:
            raise Unsupported(f"node mode {mode}")
        groups.setdefault(mode, []).append((j, split))
    parts, order = [], []
    for mode, items in groups.items():
        columns = [j for j, _ in items]
        xs = c.gather(x, np.array([forest.features[j] for j in columns], np.int32), axis=1)
        outcome = c.binary(COMPARE[mode], xs, np.array([t for _, t in items], np.float32))
        parts.append(_missing(c, xs, outcome, [forest.missing_true[j] for j in columns]))
        order += columns
    if members:
        pairs = [(i, forest.features[j], v) for i, j in enumerate(members) for v in sorted(forest.tests[j][1])]
        tracks = [forest.missing_true[j] for j in members]
        xs = c.gather(x, np.array([forest.features[j] for j in members], np.int32), axis=1) \
            if not pairs or any(tracks) else None
        if pairs:
            picked = c.gather(x, np.array([f for _, f, _ in pairs], np.int32), axis=1)
            hits = c.cast(c.binary("EQUAL", picked, np.array([v for _, _, v in pairs], np.float32)), DType.FLOAT32)
            owner = np.zeros((len(pairs), len(members)), np.float32)
            owner[np.arange(len(pairs)), [i for i, _, _ in pairs]] = 1
            found = c.op("BATCH_MATMUL", [hits, owner], DType.FLOAT32, [value_shape(x)[0], len(members)],
                         circle_options.BatchMatMulOptions())
            outcome = c.binary("GREATER", found, 0.0)
        else:
            outcome = c.binary("EQUAL", xs, float("nan"))
        parts.append(_missing(c, xs, outcome, tracks))
        order += members
    position = [0] * len(order)
    for at, j in enumerate(order):
        position[j] = at
    return c.concat(parts, 1), position


def _missing(c: Calc, xs: Value | None, outcome: Value, tracks_true: list[bool]) -> Value:
    """The outcome, true for NaN features where missing values track the true branch."""
    if not any(tracks_true):
        return outcome
    nan = c.logical_and(c.binary("NOT_EQUAL", xs, xs), np.array(tracks_true))
    return c.binary("LOGICAL_OR", outcome, nan)


def _reached(c: Calc, decisions: Value, forest: Forest, position: list[int]) -> Value:
    """Which leaves (of each tree) every sample reaches (N, leaves)."""
    depth = max([1, *(len(p) for p in forest.paths)])
    columns = np.zeros((len(forest.paths), depth), np.int32)
    branch = np.zeros((len(forest.paths), depth), bool)
    padding = np.ones((len(forest.paths), depth), bool)
    for i, path in enumerate(forest.paths):
        for k, (j, way) in enumerate(path):
            columns[i, k], branch[i, k], padding[i, k] = position[j], way, False
    taken = c.reshape(c.gather(decisions, columns.reshape(-1), axis=1), [-1, *columns.shape])
    return c.reduce("REDUCE_ALL", c.binary("LOGICAL_OR", c.binary("EQUAL", taken, branch), padding), [2])


@converts("TreeEnsemble", domain=ML)
def tree_ensemble(cx: Context, node: Node) -> None:
    post = int(node.attr("post_transform", 0))
    if post:  # onnxruntime reads 1 as LOGISTIC and 2 as SOFTMAX, the specification the other way round
        raise Unsupported(f"post_transform {post}, whose meaning onnxruntime and the ONNX specification disagree on")
    c = Calc(cx, node)
    x, wide = float_input(c, cx.tensor(node.input(0)))
    forest = _forest(node)
    decisions, position = _decisions(c, x, forest)
    reached = _reached(c, decisions, forest, position)
    weights = _array(node.attr("leaf_weights")).reshape(-1).astype(np.float64)[forest.leaves]
    targets = np.asarray(node.attr("leaf_targetids"), np.int32)[forest.leaves]
    count = int(node.attr("n_targets"))
    aggregate = int(node.attr("aggregate_function", SUM_))
    if aggregate in (SUM_, AVERAGE):
        table = np.zeros((len(weights), count), np.float32)
        np.add.at(table, (np.arange(len(weights)), targets),
                  weights / (len(node.attr("tree_roots")) if aggregate == AVERAGE else 1))
        y = c.op("BATCH_MATMUL", [c.cast(reached, DType.FLOAT32), table], DType.FLOAT32, [value_shape(x)[0], count],
                 circle_options.BatchMatMulOptions())
    elif aggregate in (MIN_, MAX_):  # over the reached leaves of each target; 0 without any
        info = np.finfo(np.float32)
        start = info.max if aggregate == MIN_ else info.min
        chosen = c.transpose(c.select(reached, weights.astype(np.float32), start), [1, 0])
        op = "UNSORTED_SEGMENT_MIN" if aggregate == MIN_ else "UNSORTED_SEGMENT_MAX"
        y = c.transpose(c.op(op, [chosen, targets, np.array(count, np.int32)], DType.FLOAT32, [count, None]), [1, 0])
        hits = c.op("BATCH_MATMUL", [c.cast(reached, DType.FLOAT32), np.eye(count, dtype=np.float32)[targets]],
                    DType.FLOAT32, [value_shape(x)[0], count], circle_options.BatchMatMulOptions())
        y = c.select(c.binary("GREATER", hits, 0.0), y, 0.0)
    else:
        raise Unsupported(f"aggregate_function {aggregate}")
    bind(cx, node.outputs[0], c.cast(y, DType.FLOAT16) if wide else y)


# --- TfIdfVectorizer ---------------------------------------------------------------------------------


def _pool(node: Node, dtype: DType) -> list[tuple[int, np.ndarray, list[int]]]:
    """The n-grams counted, per length n: (n, grams (g, n), their numbers among all n-grams). A
    repeated n-gram keeps its last number; n-grams the input type cannot hold are left out."""
    if node.attr("pool_strings"):
        raise Unsupported("string n-grams")
    pool = np.asarray(node.attr("pool_int64s", []), np.int64)
    starts = [int(s) for s in node.attr("ngram_counts")]
    lengths = range(int(node.attr("min_gram_length")), int(node.attr("max_gram_length")) + 1)
    info = np.iinfo(dtype.numpy)
    out, number = [], 0
    for n, start in enumerate(starts, 1):
        end = starts[n] if n < len(starts) else len(pool)
        grams = pool[start:end].reshape(-1, n)
        if n in lengths:
            last = {tuple(g): number + i for i, g in enumerate(grams.tolist())}
            kept = [(g, i) for g, i in last.items() if all(info.min <= v <= info.max for v in g)]
            if kept:
                out.append((n, np.array([g for g, _ in kept], dtype.numpy), [i for _, i in kept]))
        number += len(grams)
    return out


def _matches(c: Calc, rows: Value, grams: np.ndarray, distance: int, width: int) -> Value:
    """How often each n-gram occurs in each row with `distance` between its items (N, g)."""
    match: Value | None = None
    for k in range(grams.shape[1]):
        window = c.expand_dims(c.slice(rows, [0, k * distance], [-1, width]), -1)
        equal = c.binary("EQUAL", window, grams[:, k])
        match = equal if match is None else c.logical_and(match, equal)
    return c.reduce("SUM", c.cast(match, DType.INT32), [1])


@converts("TfIdfVectorizer")
def tfidf_vectorizer(cx: Context, node: Node) -> None:
    """Per n-gram length and skip, an EQUAL of shifted windows of the input with every n-gram of
    the pool, summed over positions; a BATCH_MATMUL places the counts at their output indexes."""
    x = node.input(0)
    rank = cx.need_rank(node, x)
    c = Calc(cx, node)
    xt = cx.tensor(x)
    if rank not in (1, 2) or xt.dtype not in (DType.INT32, DType.INT64):
        raise Unsupported(f"a {rank}-d {xt.dtype.name} input")
    length = static_dim(cx, x, rank - 1, "the input's length")
    rows: Value = xt if rank == 2 else c.reshape(xt, [1, -1])
    indexes = [int(i) for i in node.attr("ngram_indexes")]
    size = max(indexes) + 1
    parts, numbers = [], []
    for n, grams, ids in _pool(node, xt.dtype):
        distances = [1] if n == 1 else range(1, int(node.attr("max_skip_count", 0)) + 2)
        counts = [_matches(c, rows, grams, d, length - (n - 1) * d) for d in distances if length - (n - 1) * d > 0]
        if counts:
            total = counts[0]
            for more in counts[1:]:
                total = c.add(total, more)
            parts.append(total)
            numbers += ids
    batch = c.dim(x, 0) if rank == 2 else c.const(1, DType.INT32)
    if parts:
        places = np.zeros((len(numbers), size), np.float32)
        places[np.arange(len(numbers)), [indexes[i] for i in numbers]] = 1
        found = c.cast(c.concat(parts, 1), DType.FLOAT32)
        y: Value = c.op("BATCH_MATMUL", [found, places], DType.FLOAT32, [value_shape(rows)[0], size],
                        circle_options.BatchMatMulOptions())
    else:
        y = c.op("FILL", [c.vector([batch, size]), c.const(0, DType.FLOAT32)], DType.FLOAT32,
                 [value_shape(rows)[0], size], circle_options.FillOptions())
    y = _weighted(c, node, y, size)
    bind(cx, node.outputs[0], y if rank == 2 else c.reshape(y, [size]))


def _weighted(c: Calc, node: Node, counts: Value, size: int) -> Value:
    """TF: the counts; IDF: the n-gram's weight (or 1) where counted; TFIDF: weight × count. Weights
    are given per n-gram of the pool, in the order of ngram_indexes."""
    mode = node.attr("mode")
    weights = node.attr("weights")
    w = np.ones(size, np.float32)
    if weights:
        w[[int(i) for i in node.attr("ngram_indexes")]] = weights
    if mode == "TF":
        return counts
    if mode == "IDF":
        return c.select(c.binary("GREATER", counts, 0.0), w, 0.0)
    if mode == "TFIDF":
        return c.mul(counts, w) if weights else counts
    raise Unsupported(f"mode '{mode}'")
