/* elementwise_f32.c: float32 elementwise operators and softmax (one codegen).

   A broadcast operator runs as rows: the last (merged) dimension is a contiguous row in which
   each operand is either contiguous or one repeated value, so the row loops vectorize; the
   other dimensions only move the row starts. Outputs may overwrite an operand, so the row
   pointers are not `restrict` (compilers check the overlap once per row). */
#include "elementwise_f32.h"

typedef void (*one_row_f32)(int n, const float *a, int ia, const float *b, int ib, float *y, float lo, float hi);

/* One row of `y = clamp(EXPR(x, z))` with x from a and z from b, per stride combination. */
#define ONE_BINARY_ROW(name, EXPR)                                                                     \
    static void name(int n, const float *a, int ia, const float *b, int ib, float *y, float lo, float hi) \
    {                                                                                                  \
        int i;                                                                                         \
        if (ia && ib) {                                                                                \
            for (i = 0; i < n; i++) { const float x = a[i], z = b[i]; y[i] = one_clamp_f(EXPR, lo, hi); } \
        } else if (ib) {                                                                               \
            const float x = a[0];                                                                      \
            for (i = 0; i < n; i++) { const float z = b[i]; y[i] = one_clamp_f(EXPR, lo, hi); }       \
        } else if (ia) {                                                                               \
            const float z = b[0];                                                                      \
            for (i = 0; i < n; i++) { const float x = a[i]; y[i] = one_clamp_f(EXPR, lo, hi); }       \
        } else {                                                                                       \
            const float x = a[0], z = b[0];                                                            \
            const float v = one_clamp_f(EXPR, lo, hi);                                                 \
            for (i = 0; i < n; i++) y[i] = v;                                                          \
        }                                                                                              \
    }

ONE_BINARY_ROW(one_row_add, x + z)
ONE_BINARY_ROW(one_row_sub, x - z)
ONE_BINARY_ROW(one_row_mul, x * z)
ONE_BINARY_ROW(one_row_div, x / z)
ONE_BINARY_ROW(one_row_max, x > z ? x : z)
ONE_BINARY_ROW(one_row_min, x < z ? x : z)
ONE_BINARY_ROW(one_row_sqdiff, (x - z) * (x - z))
ONE_BINARY_ROW(one_row_prelu, x >= 0.0f ? x : x * z)

static const one_row_f32 one_rows_f32[] = {one_row_add, one_row_sub, one_row_mul, one_row_div,
                                           one_row_max, one_row_min, one_row_sqdiff, one_row_prelu};

void one_binary_f32(one_binary_f32_op op, int rank, const int *shape, const int *a_stride, const int *b_stride,
                    const float *a, const float *b, float *y, float lo, float hi)
{
    const one_row_f32 row = one_rows_f32[op];
    const int n = shape[rank - 1], ia = a_stride[rank - 1], ib = b_stride[rank - 1];
    int idx[ONE_EW_MAX_RANK];
    size_t outer = 1, o;
    ptrdiff_t oa = 0, ob = 0;
    int d;
    for (d = 0; d < rank - 1; d++) {
        idx[d] = 0;
        outer *= (size_t)shape[d];
    }
    for (o = 0; o < outer; o++) {
        row(n, a + oa, ia, b + ob, ib, y + o * (size_t)n, lo, hi);
        for (d = rank - 2; d >= 0; d--) {
            oa += a_stride[d];
            ob += b_stride[d];
            if (++idx[d] < shape[d]) break;
            oa -= (ptrdiff_t)a_stride[d] * shape[d];
            ob -= (ptrdiff_t)b_stride[d] * shape[d];
            idx[d] = 0;
        }
    }
}

#define ONE_MAP(EXPR)                                    \
    for (i = 0; i < n; i++) { const float v = x[i]; y[i] = (EXPR); } \
    break

/* tanh(x) = 1 - 2/(e^(2x) + 1) through one_expf (so the loops vectorize); |x| is clamped to 9,
   past which tanhf is +-1 in float. Below |x| = 1/16 (where the form above loses relative
   accuracy) the series x - x^3/3 + 2x^5/15, whose next term is below 4e-9 relative. */
ONE_INLINE float one_tanhf(float x)
{
    const float c = x > 9.0f ? 9.0f : (x < -9.0f ? -9.0f : x), x2 = x * x;
    const float big = 1.0f - 2.0f / (one_expf(2.0f * c) + 1.0f);
    const float small = x + x * x2 * (-0.333333333f + x2 * 0.133333333f);
    return x2 < 0.00390625f ? small : big;
}

/* e^x - 1 for x < 0 (ELU): one_expf(x) - 1, or above -1/16 the series to x^4/24 (the next term
   is below 2e-7 relative). */
ONE_INLINE float one_expm1f_neg(float x)
{
    const float small = x * (1.0f + x * (0.5f + x * (0.166666667f + x * 0.0416666667f)));
    return x > -0.0625f ? small : one_expf(x) - 1.0f;
}

void one_unary_f32(one_unary_f32_op op, size_t n, const float *x, float *y, float p0, float p1)
{
    size_t i;
    switch (op) {
    case ONE_F32_CLAMP: ONE_MAP(one_clamp_f(v, p0, p1));
    case ONE_F32_LOGISTIC: ONE_MAP(1.0f / (1.0f + one_expf(-v)));
    case ONE_F32_TANH: ONE_MAP(one_tanhf(v));
    case ONE_F32_HARD_SWISH: ONE_MAP(v * one_clamp_f(v + 3.0f, 0.0f, 6.0f) / 6.0f);
    case ONE_F32_LEAKY_RELU: ONE_MAP(v > 0.0f ? v : v * p0);
    case ONE_F32_ELU: ONE_MAP(v < 0.0f ? one_expm1f_neg(v) : v);
    case ONE_F32_EXP: ONE_MAP(one_expf(v));
    case ONE_F32_LOG: ONE_MAP(logf(v));
    case ONE_F32_SQRT: ONE_MAP(sqrtf(v));
    case ONE_F32_RSQRT: ONE_MAP(1.0f / sqrtf(v));
    case ONE_F32_ABS: ONE_MAP(fabsf(v));
    case ONE_F32_NEG: ONE_MAP(-v);
    case ONE_F32_SQUARE: ONE_MAP(v * v);
    case ONE_F32_GELU: ONE_MAP(0.5f * v * erfcf(v * -0.70710678118654752f));
    case ONE_F32_GELU_TANH:
        ONE_MAP(0.5f * v * (1.0f + one_tanhf(0.79788456080286536f * (v + 0.044715f * v * v * v))));
    }
}

void one_softmax_f32(size_t rows, int n, float beta, const float *x, float *y)
{
    size_t r;
    int i;
    for (r = 0; r < rows; r++, x += n, y += n) {
        float m = x[0], sum = 0.0f, inv;
        for (i = 1; i < n; i++) m = x[i] > m ? x[i] : m;
        /* Two loops, so the exponentials vectorize; the sum keeps its order. */
        for (i = 0; i < n; i++) y[i] = one_expf((x[i] - m) * beta);
        for (i = 0; i < n; i++) sum += y[i];
        inv = 1.0f / sum;
        for (i = 0; i < n; i++) y[i] *= inv;
    }
}
