/* one_common.h: shared by every generated kernel family (one codegen). Portable C99. */
#ifndef ONE_COMMON_H
#define ONE_COMMON_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__)
#define ONE_INLINE static __inline__
#define ONE_RESTRICT __restrict__
#else
#define ONE_INLINE static
#define ONE_RESTRICT
#endif

/* Parallel loops when compiled with OpenMP (-fopenmp), for loops with at least `work`
   multiply-adds (smaller ones cost more to share than to run); plain loops otherwise. */
#define ONE_PRAGMA(x) _Pragma(#x)
#if defined(_OPENMP)
#include <omp.h>
#define ONE_PARALLEL_FOR(work) ONE_PRAGMA(omp parallel for schedule(static) if((work) >= 200000))
/* At most `slots` threads (each uses scratch block ONE_THREAD_NUM). */
#define ONE_PARALLEL_SLOTS(slots, work)                                                                     \
    ONE_PRAGMA(omp parallel for schedule(static) num_threads(slots) if ((slots) > 1 && (work) >= 200000))
#define ONE_THREAD_NUM omp_get_thread_num()
#else
#define ONE_PARALLEL_FOR(work)
#define ONE_PARALLEL_SLOTS(slots, work)
#define ONE_THREAD_NUM 0
#endif

ONE_INLINE int one_min_i(int a, int b) { return a < b ? a : b; }
ONE_INLINE int one_max_i(int a, int b) { return a > b ? a : b; }
ONE_INLINE float one_clamp_f(float x, float lo, float hi) { return x < lo ? lo : (x > hi ? hi : x); }
ONE_INLINE int32_t one_clamp_i(int32_t x, int32_t lo, int32_t hi) { return x < lo ? lo : (x > hi ? hi : x); }

/* TFLite's fixed-point rescaling: x * m * 2^(shift - 31), m in [2^30, 2^31). First the rounding
   doubling high multiply (ties away from zero, saturating), then a rounding right shift. */
ONE_INLINE int32_t one_srdhm(int32_t a, int32_t b)
{
    int64_t ab, nudge;
    if (a == INT32_MIN && b == INT32_MIN) return INT32_MAX;
    ab = (int64_t)a * (int64_t)b;
    nudge = ab >= 0 ? ((int64_t)1 << 30) : (1 - ((int64_t)1 << 30));
    return (int32_t)((ab + nudge) / ((int64_t)1 << 31));
}

ONE_INLINE int32_t one_rdbpot(int32_t x, int exponent)
{
    int32_t mask = (int32_t)(((int64_t)1 << exponent) - 1);
    int32_t remainder = x & mask;
    int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

ONE_INLINE int32_t one_mul_by_qm(int32_t x, int32_t m, int shift)
{
    int left = shift > 0 ? shift : 0;
    int right = shift > 0 ? 0 : -shift;
    return one_rdbpot(one_srdhm((int32_t)((uint32_t)x << left), m), right);
}

/* The 64-bit accumulator variant TFLite uses for 16-bit activations: a 16-bit multiplier and
   one rounding (half up). */
ONE_INLINE int32_t one_mul_by_qm64(int64_t x, int32_t m, int shift)
{
    int64_t rm = m < 0x7FFF0000 ? (((int64_t)m + (1 << 15)) >> 16) : 0x7FFF;
    int total = 15 - shift;
    int64_t r = (x * rm + ((int64_t)1 << (total - 1))) >> total;
    return (int32_t)(r > INT32_MAX ? INT32_MAX : (r < INT32_MIN ? INT32_MIN : r));
}

/* The full 31-bit multiplier with one rounding (half up): LiteRT's uint8 FULLY_CONNECTED. */
ONE_INLINE int32_t one_mul_by_qm_single(int64_t x, int32_t m, int shift)
{
    int total = 31 - shift;
    int64_t r = (x * (int64_t)m + ((int64_t)1 << (total - 1))) >> total;
    return (int32_t)(r > INT32_MAX ? INT32_MAX : (r < INT32_MIN ? INT32_MIN : r));
}

/* MultiplyByQuantizedMultiplier's two roundings on a 64-bit value without saturation (what the
   runtime's Requantizer and quantized MEAN compute): ((x * 2^left * m + 2^30) >> 31), then a
   rounding right shift, ties away from zero. m need not be normalized. */
ONE_INLINE int64_t one_rescale_double64(int64_t x, int32_t m, int shift)
{
    int64_t h = (x * ((int64_t)1 << (shift > 0 ? shift : 0)) * m + ((int64_t)1 << 30)) >> 31;
    if (shift < 0) h = (h + ((int64_t)1 << (-shift - 1)) - (h < 0 ? 1 : 0)) >> -shift;
    return h;
}

/* e^x for float, written so that loops calling it vectorize (expf from libm does not with
   glibc): x = n*ln2 + r with |r| <= ln2/2, e^r by the Cephes degree-6 polynomial, and 2^n
   built from exponent bits (as two factors, so n = 128 near FLT_MAX works). x is clamped to
   [-87.3, 88.72]: below, the result is about 1.2e-38 rather than a denormal or 0; above, about
   FLT_MAX rather than infinity. NaN propagates. Within 2 ulp of expf over the clamped range.
   n is rounded with the 1.5*2^23 constant, so this assumes float arithmetic in float precision
   (FLT_EVAL_METHOD 0, no -ffast-math reassociation). */
ONE_INLINE float one_expf(float x)
{
    union { float f; int32_t i; } t, s1, s2;
    float nf, r, p;
    int32_t n, n1;
    x = x > 88.72283f ? 88.72283f : x;
    x = x < -87.3f ? -87.3f : x;
    t.f = x * 1.44269504088896341f + 12582912.0f; /* 1.5*2^23: the low mantissa bits hold n */
    nf = t.f - 12582912.0f;
    n = t.i - 0x4B400000;
    r = x - nf * 0.693359375f;          /* ln2 = 0.693359375 - 2.12194440e-4, the first exact in nf */
    r = r + nf * 2.12194440e-4f;
    p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    n1 = n / 2;
    s1.i = (n1 + 127) * (1 << 23);
    s2.i = (n - n1 + 127) * (1 << 23);
    return p * s1.f * s2.f;
}

#endif
