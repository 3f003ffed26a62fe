"""Optional compiled inner loops (numba), for the operators numpy cannot do in few passes.

Depthwise convolution does a multiply and an add per filter tap over the whole activation in
numpy; a compiled loop reads each input once per tap while the output row stays in cache, and
makes MobileNet-class models about twice as fast (docs/performance.md). Requantizing integer
sums into 8 or 16 bits takes numpy about eight passes in int64; compiled, it is one. Everything here has a
numpy twin in the kernel modules, used when numba is not installed or when
`ONE_RUNTIME_NUMBA=0` (the tests run both)."""

from __future__ import annotations

import os

import numpy as np


def _load():
    if os.environ.get("ONE_RUNTIME_NUMBA", "1") == "0":
        return None
    try:
        import numba
    except ImportError:
        return None
    return numba


_numba = _load()

#: True when the compiled loops are in use.
ENABLED = _numba is not None


def depthwise(x: np.ndarray, w: np.ndarray, bias: np.ndarray | None, out: np.ndarray,
              strides: tuple[int, int], dilations: tuple[int, int], pads: tuple[int, int]) -> np.ndarray:
    """out[n, oy, ox, c] = bias[c] + Σ_taps x[n, iy, ix, c] * w[ky, kx, c] (padding reads as
    zero), with x, w, bias and out of one float dtype and x's channels equal to out's."""
    b = np.zeros(w.shape[-1], out.dtype) if bias is None else bias
    _depthwise(x, w, b, out, strides[0], strides[1], dilations[0], dilations[1], pads[0], pads[1])
    return out


if ENABLED:

    @_numba.njit(cache=True, nogil=True)
    def _depthwise(x, w, bias, out, sh, sw, dh, dw, pt, pl):  # pragma: no cover - compiled
        n, h, wd, c = x.shape
        oh, ow = out.shape[1], out.shape[2]
        kh, kw = w.shape[0], w.shape[1]
        for b in range(n):
            for oy in range(oh):
                for ox in range(ow):
                    o = out[b, oy, ox]
                    for ch in range(c):
                        o[ch] = bias[ch]
                    for ky in range(kh):
                        iy = oy * sh - pt + ky * dh
                        if iy < 0 or iy >= h:
                            continue
                        for kx in range(kw):
                            ix = ox * sw - pl + kx * dw
                            if ix < 0 or ix >= wd:
                                continue
                            xi = x[b, iy, ix]
                            wk = w[ky, kx]
                            for ch in range(c):
                                o[ch] += xi[ch] * wk[ch]

    @_numba.njit(cache=True, nogil=True)
    def _requantize(acc, bias, mode, p0, p1, p2, p3, p4, zp, lo, hi, out):  # pragma: no cover - compiled
        rows, c = acc.shape
        for r in range(rows):
            for ch in range(c):
                a = np.int64(acc[r, ch]) + bias[ch]
                if mode == 0:  # two roundings folded: left, negw, mant, add, shift
                    a = a << p0[ch]
                    a = a * p2[ch] + p3[ch] + ((a >> 63) & p1[ch])
                    a = a >> p4[ch]
                else:  # one rounding: mant, add, shift
                    a = (a * p0[ch] + p1[ch]) >> p2[ch]
                a += zp
                out[r, ch] = lo if a < lo else hi if a > hi else a
else:
    _depthwise = None
    _requantize = None


def requantize(acc: np.ndarray, bias: np.ndarray, mode: int, params: tuple[np.ndarray, ...], zero_point: int,
               lo: int, hi: int, out: np.ndarray) -> None:
    """out[r, c] = clamp(rescale(int(acc[r, c]) + bias[c]) + zero_point): `acc` [rows, C] holds
    exact integer sums (any dtype), `params` five int64 [C] arrays as `Requantizer` makes them
    (mode 0: left, negw, mant, add, shift; mode 1: mant, add, shift and two unused)."""
    _requantize(acc, bias, mode, *params, zero_point, lo, hi, out)
