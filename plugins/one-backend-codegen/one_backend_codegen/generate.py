"""circle model -> C99 project: the library (NAME.h, NAME.c, weights, kernels) and its build files.

    project = generate(model, name="net", input_shapes=[(1, 224, 224, 3)])
    project.write("out/net")        # NAME.h NAME.c NAME_weights.c|NAME.weights kernels Makefile ...

Generation never touches the disk until everything is known to be supported and planned, and
writes into a temporary folder renamed into place."""

from __future__ import annotations

import hashlib
import importlib.resources
import os
import re
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from one_core.errors import InputError, UnsupportedOperatorError
from one_core.ir import Model, Tensor

from . import project_files
from .arena import ArenaPlanner
from .emit import _NUMPY_C_TYPES, Constants, OpEmit, c_literal, emitters
from .static import StaticModel, input_shapes, prepare_static

#: Constants up to this many bytes in all are compiled in; more go to an external blob.
DEFAULT_INLINE_LIMIT = 1 << 20
BLOB_MAGIC = b"ONEWGT01"
BLOB_HEADER = 64
_END = 1 << 60


@dataclass
class GeneratedProject:
    """Generated sources, in memory until `write`."""

    name: str
    files: dict[str, bytes]
    arena_size: int
    weights_size: int
    #: The external weight blob (None when the weights are compiled in).
    blob: bytes | None
    inputs: list[tuple[str, np.dtype, tuple[int, ...]]]
    outputs: list[tuple[str, np.dtype, tuple[int, ...]]]
    families: list[str] = field(default_factory=list)
    #: (operator type, first output's name) of every step of NAME_run, in order.
    steps: list[tuple[str, str]] = field(default_factory=list)

    @property
    def digest(self) -> str:
        h = hashlib.sha256()
        for k in sorted(self.files):
            h.update(k.encode() + b"\0" + self.files[k] + b"\0")
        return h.hexdigest()

    @property
    def library_sources(self) -> list[str]:
        return [f for f in self.files if f.endswith(".c") and f != "main.c"]

    def write(self, out_dir: str | os.PathLike[str]) -> Path:
        """Write every file into `out_dir` (replaced as a whole: temp folder, then rename)."""
        out = Path(out_dir)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
        try:
            for rel, data in self.files.items():
                (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
                (tmp / rel).write_bytes(data)
            if self.blob is not None:
                (tmp / f"{self.name}.weights").write_bytes(self.blob)
            if out.exists():
                old = out.with_name(f".{out.name}.old")
                shutil.rmtree(old, ignore_errors=True)
                out.rename(old)
                tmp.rename(out)
                shutil.rmtree(old, ignore_errors=True)
            else:
                tmp.rename(out)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return out


def generate(
    model: Model,
    name: str = "model",
    input_shapes_: Sequence[Sequence[int]] | None = None,
    inline_limit: int | None = None,
    threads: int = 1,
) -> GeneratedProject:
    """Generate the C project of `model` (nothing is written; see GeneratedProject.write).

    `inline_limit`: constants up to this many bytes are compiled in (default 1 MiB), more go to
    an external blob. `threads`: how many threads an OpenMP build (-fopenmp) may use where kernels need a scratch
    block per thread (the 8-bit convolutions); the arena holds that many blocks. Matrix products
    and depthwise rows share work between any number of threads regardless."""
    if threads < 1:
        raise InputError(f"threads must be at least 1, got {threads}")
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise InputError(f"name '{name}' is not a C identifier")
    table = emitters()

    def supported(op, known) -> bool:
        spec = table.get(op.name)
        return spec is not None and spec.check(op, known)

    static = prepare_static(model, input_shapes(model, input_shapes_), supported)
    limit = DEFAULT_INLINE_LIMIT if inline_limit is None else inline_limit
    return _Generator(static, name, table, threads).generate(limit)


class _Generator:
    def __init__(self, static: StaticModel, name: str, table: dict, threads: int) -> None:
        self.static = static
        self.threads = threads
        self.name = name
        self.table = table
        self.families: set[str] = set()
        self.consts = Constants(name)
        self.statics: list[str] = []
        self.planner = ArenaPlanner()
        self._scratch = 0
        self._const_types: dict[str, str] = {}

    # Services for OpEmit ----------------------------------------------------------------------
    def constant(self, array: np.ndarray, ctype: str) -> str:
        symbol = self.consts.add(array)
        self._const_types[symbol] = ctype
        return symbol

    def scratch(self, nbytes: int, step: int) -> int:
        self._scratch -= 1
        self.planner.define(self._scratch, nbytes, step)
        return self._scratch

    def static_const(self, ctype: str, init: str, array: int | None = None) -> str:
        symbol = f"one_p{len(self.statics)}"
        dims = f"[{array}]" if array is not None else ""
        self.statics.append(f"static const {ctype} {symbol}{dims} = {init};")
        return symbol

    # The generation itself ---------------------------------------------------------------------
    def generate(self, inline_limit: int) -> GeneratedProject:
        st = self.static
        code, statics, steps, offsets, arena = self._schedule()
        blob = None
        files: dict[str, bytes] = {}
        io = self._io_info(offsets)
        if self.consts.nbytes > inline_limit:
            blob, const_decls = self._blob()
        else:
            const_decls = "\n".join(
                f"extern const {self._const_types[s]} {s}[{max(a.size, 1)}];" for s, a in self.consts.arrays
            )
            files[f"{self.name}_weights.c"] = project_files.weights_c(self.name, self.consts.arrays,
                                                                     self._const_types).encode()
        weights_size = len(blob) if blob is not None else 0
        families = sorted(self.families)
        files[f"{self.name}.h"] = project_files.header(self.name, arena, weights_size, io, len(steps)).encode()
        files[f"{self.name}.c"] = project_files.source(
            self.name, arena, weights_size, io, families, const_decls, statics, code, steps,
            blob_digest=blob[8:16] if blob is not None else None,
        ).encode()
        csrc = importlib.resources.files("one_backend_codegen") / "csrc"
        files["kernels/one_common.h"] = (csrc / "one_common.h").read_bytes()
        for fam in families:
            for ext in ("h", "c"):
                files[f"kernels/{fam}.{ext}"] = (csrc / f"{fam}.{ext}").read_bytes()
        files["main.c"] = project_files.main_c(self.name, io).encode()
        sources = [f"{self.name}.c"] + ([f"{self.name}_weights.c"] if blob is None else []) + [
            f"kernels/{fam}.c" for fam in families
        ]
        files["Makefile"] = project_files.makefile(self.name, sources).encode()
        files["CMakeLists.txt"] = project_files.cmakelists(self.name, sources).encode()
        return GeneratedProject(
            self.name, files, arena, self.consts.nbytes, blob,
            [(t.name, np.dtype(t.dtype.numpy), st.shape(t)) for t in st.inputs],
            [(t.name, np.dtype(t.dtype.numpy), st.shape(t)) for t in st.outputs],
            families,
            steps,
        )

    def _schedule(self) -> tuple[str, str, list[tuple[str, str]], dict[int, int], int]:
        """Emit every operator and plan the arena: (run body, static data, steps, offsets, size)."""
        st = self.static
        last_use: dict[int, int] = {}
        for step, op in enumerate(st.operators):
            for t in op.inputs:
                if t is not None:
                    last_use[id(t)] = step
        boundary = {id(t) for t in st.inputs} | {id(t) for t in st.outputs}
        for t in st.outputs:
            last_use[id(t)] = _END
        for t in st.inputs:
            self.planner.define(id(t), self._nbytes(t), -1)
        body: list[str] = []
        steps: list[tuple[str, str]] = []
        for step, op in enumerate(st.operators):
            spec = self.table[op.name]
            ins = [t for t in op.inputs if t is not None and st.value(t) is None]
            for t in ins:
                self.planner.use(id(t), step)
            out = op.outputs[0]
            if spec.view and ins and ins[0] is op.inputs[0]:
                self.planner.alias(id(out), id(ins[0]), step)
                continue
            reused = self._reusable_input(op, ins, step, last_use, boundary) if spec.inplace else None
            for t in op.outputs:
                if t is out and reused is not None:
                    self.planner.alias(id(t), id(reused), step)
                else:
                    self.planner.define(id(t), self._nbytes(t), step)
            e = OpEmit(self, op, step)
            spec.emit(e)
            index = len(steps)
            steps.append((op.type, out.name))
            body.append(f"    /* {index}: {op.type} -> '{_comment(out.name)}' */")
            body.append(f"    ONE_STEP({index}, 0);")
            body.extend("    " + line for line in e.lines)
            body.append(f"    ONE_STEP({index}, 1);")
        for t in st.outputs:
            if not self.planner.has(id(t)):
                raise UnsupportedOperatorError(f"output '{t.name}' is a constant; codegen needs computed outputs",
                                               ["constant output"])
            self.planner.use(id(t), _END)
        plan = self.planner.plan()

        def place(text: str) -> str:
            return re.sub(r"@T(-?\d+)@", lambda m: str(plan.offsets[int(m.group(1))]), text)

        return place("\n".join(body)), place("\n".join(self.statics)), steps, plan.offsets, plan.size

    def _reusable_input(self, op, ins: list[Tensor], step: int, last_use: dict[int, int],
                        boundary: set[int]) -> Tensor | None:
        out = op.outputs[0]
        for t in ins:
            if t.dtype != out.dtype or self.static.shape(t) != self.static.shape(out):
                continue
            names = self.planner.names_of(id(t))
            if any(n in boundary or last_use.get(n, -1) > step for n in names):
                continue
            if sum(1 for x in ins if x is t) > 1:
                continue
            return t
        return None

    def _nbytes(self, t: Tensor) -> int:
        return int(np.prod(self.static.shape(t), dtype=np.int64)) * np.dtype(t.dtype.numpy).itemsize

    def _io_info(self, offsets: dict[int, int]) -> dict[str, list[project_files.IOTensor]]:
        st = self.static

        def info(t: Tensor) -> project_files.IOTensor:
            q = t.quantization
            scale = float(q.scale[0]) if q is not None and q.scale is not None and q.scale.size else 0.0
            zp = int(q.zero_point[0]) if q is not None and q.zero_point is not None and q.zero_point.size else 0
            return project_files.IOTensor(t.name, int(t.dtype), st.shape(t), self._nbytes(t), scale, zp,
                                          offsets[id(t)], _NUMPY_C_TYPES[np.dtype(t.dtype.numpy)])

        return {"inputs": [info(t) for t in st.inputs], "outputs": [info(t) for t in st.outputs]}

    def _blob(self) -> tuple[bytes, str]:
        parts: list[bytes] = []
        decls: list[str] = []
        offset = BLOB_HEADER
        for symbol, array in self.consts.arrays:
            pad = (-offset) % 64
            parts.append(b"\0" * pad)
            offset += pad
            decls.append(f"#define {symbol} ((const {self._const_types[symbol]} *)(one_weights + {offset}))")
            data = array.tobytes()
            parts.append(data)
            offset += len(data)
        payload = b"".join(parts)
        digest = hashlib.sha256(payload).digest()[:8]
        header = BLOB_MAGIC + digest + offset.to_bytes(8, "little")
        header += b"\0" * (BLOB_HEADER - len(header))
        return header + payload, "\n".join(decls)


def _comment(s: str) -> str:
    return s.replace("*/", "* /")[:80]


__all__ = ["DEFAULT_INLINE_LIMIT", "GeneratedProject", "generate", "c_literal"]
