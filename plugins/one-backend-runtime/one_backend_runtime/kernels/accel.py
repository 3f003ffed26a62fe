"""Optional compiled inner loops (numba), for the operators numpy cannot do in few passes.

Depthwise convolution does a multiply and an add per filter tap over the whole activation in
numpy; a compiled loop reads each input once per tap while the output row stays in cache, and
makes MobileNet-class models about twice as fast (docs/performance.md). Requantizing integer
sums into 8 or 16 bits takes numpy about eight passes in int64; compiled, it is one. A quantized
depthwise convolution sums the integer input in int32 (int64 when that could overflow) and
rescales each output pixel as it goes: no float copy of the input, no separate pass. Everything
here has a numpy twin in the kernel modules, used when numba is not installed or when
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

    @_numba.njit(cache=True, nogil=True, inline="always")
    def _rescale(a, ch, left, negw, mant, add, shift, zp, lo, hi, two_roundings):  # pragma: no cover - compiled
        """One int64 sum (bias included) of channel `ch` to the clamped output integer:
        `Requantizer`'s two roundings folded, or (two_roundings False, where left and negw are
        0) its one rounding."""
        if two_roundings:
            a = a << left[ch]
            a = a * mant[ch] + add[ch] + ((a >> 63) & negw[ch])
        else:
            a = a * mant[ch] + add[ch]
        a = (a >> shift[ch]) + zp
        return lo if a < lo else hi if a > hi else a

    @_numba.njit(cache=True, nogil=True)
    def _requantize(acc, bias, p0, p1, p2, p3, p4, two, zp, lo, hi, out):  # pragma: no cover - compiled
        rows, c = acc.shape
        for r in range(rows):
            for ch in range(c):
                out[r, ch] = _rescale(np.int64(acc[r, ch]) + bias[ch], ch, p0, p1, p2, p3, p4, zp, lo, hi, two)

    @_numba.njit(cache=True, nogil=True)
    def _depthwise_q(x, zi, w, bias, sh, sw, dh, dw, pt, pl, r0, r1,
                     p0, p1, p2, p3, p4, zp, lo, hi, out):  # pragma: no cover - compiled
        n, h, wd, c = x.shape
        oh, ow = out.shape[1], out.shape[2]
        kh, kw = w.shape[0], w.shape[1]
        acc = np.empty(c, w.dtype)
        z = np.int32(zi)
        for r in range(r0, r1):
            b = r // oh
            oy = r - b * oh
            for ox in range(ow):
                for ch in range(c):
                    acc[ch] = 0
                for ky in range(kh):
                    iy = oy * sh - pt + ky * dh
                    if iy < 0 or iy >= h:
                        continue  # padding: the zero point, 0 once centered
                    for kx in range(kw):
                        ix = ox * sw - pl + kx * dw
                        if ix < 0 or ix >= wd:
                            continue
                        xi = x[b, iy, ix]
                        wk = w[ky, kx]
                        for ch in range(c):
                            acc[ch] += (np.int32(xi[ch]) - z) * wk[ch]
                o = out[b, oy, ox]
                for ch in range(c):
                    # always the general form: a branch here keeps the loop from vectorizing
                    o[ch] = _rescale(np.int64(acc[ch]) + bias[ch], ch, p0, p1, p2, p3, p4, zp, lo, hi, True)
else:
    _depthwise = None
    _requantize = None
    _depthwise_q = None


def requantize(acc: np.ndarray, bias: np.ndarray, params: tuple[np.ndarray, ...], two_roundings: bool,
               zero_point: int, lo: int, hi: int, out: np.ndarray) -> None:
    """out[r, c] = clamp(rescale(int(acc[r, c]) + bias[c]) + zero_point): `acc` [rows, C] holds
    exact integer sums (any dtype), `params` the five int64 [C] arrays (left, negw, mant, add,
    shift) of `Requantizer.compiled`; `two_roundings` False skips the first two (all 0)."""
    _requantize(acc, bias, *params, two_roundings, zero_point, lo, hi, out)


def depthwise_q(x: np.ndarray, zero_point: int, w: np.ndarray, bias: np.ndarray, strides: tuple[int, int],
                dilations: tuple[int, int], pads: tuple[int, int], rows: tuple[int, int],
                params: tuple[np.ndarray, ...], out_zero_point: int, lo: int, hi: int, out: np.ndarray) -> None:
    """Integer depthwise convolution, requantized as `requantize` does: for the rows
    rows[0] <= r < rows[1] of out [N, OH, OW, C] (r = n * OH + oy), acc[c] = Σ_taps
    (x[n, iy, ix, c] - zero_point) * w[ky, kx, c] (padding contributes 0) in w's integer dtype
    (int32 or int64: the caller makes sure no sum overflows it), then out[n, oy, ox, c] =
    clamp(rescale(acc[c] + bias[c]) + out_zero_point). x (8 or 16-bit integers) has out's
    channels (the caller repeats them for a depth multiplier); bias is int64."""
    _depthwise_q(x, zero_point, w, bias, strides[0], strides[1], dilations[0], dilations[1], pads[0], pads[1],
                 rows[0], rows[1], *params, out_zero_point, lo, hi, out)
