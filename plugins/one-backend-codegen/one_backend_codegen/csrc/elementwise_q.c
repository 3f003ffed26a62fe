/* elementwise_q.c: quantized elementwise operators, (de)quantization, softmax, pooling and means
   (one codegen). Integer steps follow LiteRT's reference kernels as the runtime computes them. */
#include "elementwise_q.h"

ONE_INLINE int64_t one_rdbp64(int64_t x, int e)
{
    return e <= 0 ? x : (x + ((int64_t)1 << (e - 1)) - (x < 0 ? 1 : 0)) >> e;
}

ONE_INLINE int64_t one_clamp64(int64_t v, int64_t lo, int64_t hi) { return v < lo ? lo : (v > hi ? hi : v); }

static int one_clz32(uint32_t x)
{
    int n = 0;
    if (x == 0) return 32;
    while (!(x & 0x80000000u)) {
        x <<= 1;
        n++;
    }
    return n;
}

static int32_t one_sat_shl(int32_t x, int e)
{
    const int32_t threshold = (int32_t)(((int64_t)1 << (31 - e)) - 1);
    if (x > threshold) return INT32_MAX;
    if (x < -threshold) return INT32_MIN;
    return (int32_t)((uint32_t)x << e);
}

/* gemmlowp one_over_one_plus_x_for_x_in_0_1 (Q0.31 in and out). */
static int32_t one_recip_01(int32_t a)
{
    int64_t s = (int64_t)a + INT32_MAX;
    int32_t half, x;
    int i;
    s += s >= 0 ? 1 : -1;
    half = (int32_t)(s / 2);
    x = 1515870810 + one_srdhm(half, -1010580540);
    for (i = 0; i < 3; i++) {
        int32_t one_minus = (1 << 29) - one_srdhm(half, x);
        x = x + one_sat_shl(one_srdhm(x, one_minus), 2);
    }
    return one_sat_shl(x, 1);
}

/* one_rescale_double64 with its two roundings folded into one shift: branch-free, so loops
   whose multiplier and shift are fixed vectorize. */
typedef struct {
    int left, total;
    int64_t add, negw;
} one_fold;

static one_fold one_fold_of(int shift)
{
    one_fold f;
    const int right = shift > 0 ? 0 : -shift;
    f.left = shift > 0 ? shift : 0;
    f.total = 31 + right;
    f.add = ((int64_t)1 << 30) + ((((int64_t)1 << right) >> 1) << 31);
    f.negw = right > 0 ? -((int64_t)1 << 31) : 0;
    return f;
}

ONE_INLINE int64_t one_fold_apply(int64_t x, int32_t m, one_fold f)
{
    x *= (int64_t)1 << f.left;
    return (x * m + f.add + ((x >> 63) & f.negw)) >> f.total;
}

static int32_t one_binary_elem(const one_binary_q_params *p, int32_t a, int32_t b)
{
    int64_t r;
    if (p->op == ONE_Q_MUL) {
        r = p->out_zp + one_rescale_double64((int64_t)(a - p->a_zp) * (b - p->b_zp), p->out_mult, p->out_shift);
    } else if (p->op == ONE_Q_ADD_POT) {
        r = one_clamp64(one_rdbp64(a, p->a_shift) + p->sign * one_rdbp64(b, p->b_shift), -32768, 32767);
    } else {
        int64_t sa = one_rescale_double64((int64_t)(a - p->a_zp) * ((int64_t)1 << p->left_shift), p->a_mult, p->a_shift);
        int64_t sb = one_rescale_double64((int64_t)(b - p->b_zp) * ((int64_t)1 << p->left_shift), p->b_mult, p->b_shift);
        r = p->out_zp + one_rescale_double64(sa + p->sign * sb, p->out_mult, p->out_shift);
    }
    return (int32_t)one_clamp64(r, p->lo, p->hi);
}

void one_lut_q8(size_t n, const uint8_t *ONE_RESTRICT x, const uint8_t *ONE_RESTRICT table, uint8_t *y)
{
    size_t i;
    for (i = 0; i < n; i++) y[i] = table[x[i]];
}

void one_lut_q16(size_t n, const int16_t *ONE_RESTRICT x, const int16_t *ONE_RESTRICT table, int16_t *y)
{
    size_t i;
    for (i = 0; i < n; i++) y[i] = table[(uint16_t)x[i]];
}

#define ONE_DEFINE_ELEMENTWISE_Q(SUF, T, TMIN, TMAX)                                                        \
    /* ADD or SUB of two contiguous rows: the rescales with hoisted, folded parameters. */             \
    static void one_add_row_##SUF(const one_binary_q_params *p, int n, const T *ONE_RESTRICT a,             \
                                  const T *ONE_RESTRICT b, T *ONE_RESTRICT y)                               \
    {                                                                                                       \
        const one_fold fa = one_fold_of(p->a_shift), fb = one_fold_of(p->b_shift);                          \
        const one_fold fo = one_fold_of(p->out_shift);                                                      \
        const int32_t ma = p->a_mult, mb = p->b_mult, mo = p->out_mult;                                     \
        const int64_t za = p->a_zp, zb = p->b_zp, zo = p->out_zp, lo = p->lo, hi = p->hi;                   \
        const int64_t sign = p->sign, lift = (int64_t)1 << p->left_shift;                                   \
        int j;                                                                                              \
        for (j = 0; j < n; j++) {                                                                           \
            const int64_t sa = one_fold_apply((a[j] - za) * lift, ma, fa);                                  \
            const int64_t sb = one_fold_apply((b[j] - zb) * lift, mb, fb);                                  \
            const int64_t r = zo + one_fold_apply(sa + sign * sb, mo, fo);                                  \
            y[j] = (T)(r < lo ? lo : (r > hi ? hi : r));                                                    \
        }                                                                                                   \
    }                                                                                                       \
                                                                                                            \
    void one_binary_q##SUF(const one_binary_q_params *p, int rank, const int *shape, const int *a_stride,   \
                           const int *b_stride, const T *a, const T *b, T *y)                               \
    {                                                                                                       \
        const int inner = shape[rank - 1], sa = a_stride[rank - 1], sb = b_stride[rank - 1];                \
        const one_binary_q_params q = *p; /* a local copy: 8-bit stores to y may alias *p */              \
        size_t outer = 1, o;                                                                                \
        int d, j;                                                                                           \
        for (d = 0; d < rank - 1; d++) outer *= (size_t)shape[d];                                           \
        for (o = 0; o < outer; o++) {                                                                       \
            ptrdiff_t ao = 0, bo = 0;                                                                       \
            size_t rem = o;                                                                                 \
            const T *ar, *br;                                                                               \
            T *yr = y + o * (size_t)inner;                                                                  \
            for (d = rank - 2; d >= 0; d--) {                                                               \
                const ptrdiff_t k = (ptrdiff_t)(rem % (size_t)shape[d]);                                    \
                rem /= (size_t)shape[d];                                                                    \
                ao += k * a_stride[d];                                                                      \
                bo += k * b_stride[d];                                                                      \
            }                                                                                               \
            ar = a + ao;                                                                                    \
            br = b + bo;                                                                                    \
            if (q.op != ONE_Q_MUL && q.op != ONE_Q_ADD_POT && sa == 1 && sb == 1) {                         \
                one_add_row_##SUF(&q, inner, ar, br, yr);                                                   \
                continue;                                                                                   \
            }                                                                                               \
            for (j = 0; j < inner; j++) yr[j] = (T)one_binary_elem(&q, ar[j * sa], br[j * sb]);             \
        }                                                                                                   \
    }                                                                                                       \
                                                                                                            \
    void one_requantize_q##SUF(size_t n, const T *x, int in_zp, int32_t m, int shift, int out_zp, int lo,   \
                               int hi, void *y, int out_bytes, int out_signed)                              \
    {                                                                                                       \
        size_t i;                                                                                           \
        for (i = 0; i < n; i++) {                                                                           \
            const int64_t v = one_clamp64(one_rescale_double64((int64_t)x[i] - in_zp, m, shift) + out_zp, lo, hi); \
            if (out_bytes == 2) ((int16_t *)y)[i] = (int16_t)v;                                             \
            else if (out_signed) ((int8_t *)y)[i] = (int8_t)v;                                              \
            else ((uint8_t *)y)[i] = (uint8_t)v;                                                            \
        }                                                                                                   \
    }                                                                                                       \
                                                                                                            \
    void one_dequantize_q##SUF(size_t n, const T *ONE_RESTRICT x, int zp, float scale, float *ONE_RESTRICT y) \
    {                                                                                                       \
        size_t i;                                                                                           \
        for (i = 0; i < n; i++) y[i] = (float)(x[i] - zp) * scale;                                          \
    }                                                                                                       \
                                                                                                            \
    void one_quantize_q##SUF(size_t n, const float *ONE_RESTRICT x, float scale, int zp, T *ONE_RESTRICT y) \
    {                                                                                                       \
        size_t i;                                                                                           \
        for (i = 0; i < n; i++) {                                                                           \
            const float r = roundf(x[i] / scale) + (float)zp;                                               \
            y[i] = (T)(r < (float)(TMIN) ? (TMIN) : (r > (float)(TMAX) ? (TMAX) : r));                      \
        }                                                                                                   \
    }                                                                                                       \
                                                                                                            \
    void one_pool_q##SUF(const one_pool_q_params *p, const T *x, T *y, int32_t *ONE_RESTRICT acc)           \
    {                                                                                                       \
        const int c = p->c;                                                                                 \
        int b, oy, ox, iy, ix, k;                                                                           \
        for (b = 0; b < p->batch; b++) {                                                                    \
            for (oy = 0; oy < p->out_h; oy++) {                                                             \
                const int y0 = one_max_i(0, oy * p->stride_h - p->pad_top);                                 \
                const int y1 = one_min_i(p->in_h, oy * p->stride_h - p->pad_top + p->k_h);                  \
                for (ox = 0; ox < p->out_w; ox++) {                                                         \
                    const int x0 = one_max_i(0, ox * p->stride_w - p->pad_left);                            \
                    const int x1 = one_min_i(p->in_w, ox * p->stride_w - p->pad_left + p->k_w);             \
                    const int32_t count = (y1 - y0) * (x1 - x0);                                            \
                    T *ONE_RESTRICT out = y + (((size_t)b * p->out_h + oy) * p->out_w + ox) * c;            \
                    for (k = 0; k < c; k++) acc[k] = p->is_max ? (TMIN) : 0;                                \
                    for (iy = y0; iy < y1; iy++) {                                                          \
                        for (ix = x0; ix < x1; ix++) {                                                      \
                            const T *ONE_RESTRICT v = x + (((size_t)b * p->in_h + iy) * p->in_w + ix) * c;  \
                            if (p->is_max) {                                                                \
                                for (k = 0; k < c; k++) acc[k] = acc[k] > v[k] ? acc[k] : v[k];             \
                            } else {                                                                        \
                                for (k = 0; k < c; k++) acc[k] += v[k];                                     \
                            }                                                                               \
                        }                                                                                   \
                    }                                                                                       \
                    for (k = 0; k < c; k++) {                                                               \
                        int32_t r = acc[k];                                                                 \
                        if (!p->is_max) r = (r > 0 ? r + count / 2 : r - count / 2) / count;                \
                        out[k] = (T)one_clamp_i(r, p->lo, p->hi);                                           \
                    }                                                                                       \
                }                                                                                           \
            }                                                                                               \
        }                                                                                                   \
    }                                                                                                       \
                                                                                                            \
    void one_mean_q##SUF(int rank, const int *shape, const int *acc_stride, size_t n_out, int32_t count,    \
                         int in_zp, int32_t m, int shift, int out_zp, const T *x, T *y, int32_t *acc)       \
    {                                                                                                       \
        const int inner = shape[rank - 1], sa = acc_stride[rank - 1];                                       \
        size_t outer = 1, o;                                                                                \
        int d, j;                                                                                           \
        for (o = 0; o < n_out; o++) acc[o] = 0;                                                             \
        for (d = 0; d < rank - 1; d++) outer *= (size_t)shape[d];                                           \
        for (o = 0; o < outer; o++) {                                                                       \
            const T *ONE_RESTRICT xr = x + o * (size_t)inner;                                               \
            ptrdiff_t off = 0;                                                                              \
            size_t rem = o;                                                                                 \
            for (d = rank - 2; d >= 0; d--) {                                                               \
                off += (ptrdiff_t)(rem % (size_t)shape[d]) * acc_stride[d];                                 \
                rem /= (size_t)shape[d];                                                                    \
            }                                                                                               \
            if (sa == 0) {                                                                                  \
                int32_t s = 0;                                                                              \
                for (j = 0; j < inner; j++) s += xr[j];                                                     \
                acc[off] += s;                                                                              \
            } else {                                                                                        \
                int32_t *ONE_RESTRICT ar = acc + off;                                                       \
                for (j = 0; j < inner; j++) ar[j] += xr[j];                                                 \
            }                                                                                               \
        }                                                                                                   \
        for (o = 0; o < n_out; o++) {                                                                       \
            const int32_t shifted = (int32_t)((uint32_t)acc[o] - (uint32_t)in_zp * (uint32_t)count);        \
            y[o] = (T)one_clamp64(one_rescale_double64(shifted, m, shift) + out_zp, TMIN, TMAX);            \
        }                                                                                                   \
    }

ONE_DEFINE_ELEMENTWISE_Q(s8, int8_t, -128, 127)
ONE_DEFINE_ELEMENTWISE_Q(u8, uint8_t, 0, 255)
ONE_DEFINE_ELEMENTWISE_Q(s16, int16_t, -32768, 32767)

void one_softmax_q8(size_t rows, int n, int is_signed, const int32_t *exp_q0, const int32_t *exp_accum,
                    const void *x, void *y)
{
    const int lo = is_signed ? -128 : 0, hi = lo + 255;
    size_t r;
    int j;
    for (r = 0; r < rows; r++) {
        const int8_t *xs = (const int8_t *)x + r * (size_t)n;
        const uint8_t *xu = (const uint8_t *)x + r * (size_t)n;
        int mx = -1000, hp1, exponent;
        int64_t sum = 0;
        int32_t scale;
        for (j = 0; j < n; j++) mx = one_max_i(mx, is_signed ? xs[j] : xu[j]);
        for (j = 0; j < n; j++) sum += exp_accum[mx - (is_signed ? xs[j] : xu[j])];
        hp1 = one_clz32((uint32_t)sum);
        exponent = 12 - hp1 + 31 - 8;
        scale = one_recip_01((int32_t)(((uint32_t)sum << hp1) - 0x80000000u));
        for (j = 0; j < n; j++) {
            const int idx = mx - (is_signed ? xs[j] : xu[j]);
            const int64_t v = one_clamp64(one_rdbp64(one_srdhm(scale, exp_q0[idx]), exponent) + lo, lo, hi);
            if (is_signed) ((int8_t *)y)[r * (size_t)n + j] = (int8_t)v;
            else ((uint8_t *)y)[r * (size_t)n + j] = (uint8_t)v;
        }
    }
}

static int32_t one_lut16(int32_t v, const int16_t *lut)
{
    const int index = 256 + (v >> 7), offset = v & 0x7F;
    const int32_t base = lut[index], slope = lut[index + 1] - base;
    return (int16_t)(uint16_t)(uint32_t)(base + ((slope * offset + 64) >> 7));
}

static int32_t one_softmax_exp16(int diff, int32_t m, int shift, const int16_t *exp_lut)
{
    return one_lut16((int32_t)one_clamp64(one_rescale_double64(-diff, m, shift) + 32767, -32768, 32767), exp_lut);
}

void one_softmax_q16(size_t rows, int n, int32_t m, int shift, const int16_t *exp_lut, const int16_t *recip_lut,
                     const int16_t *x, int16_t *y)
{
    size_t r;
    int j;
    for (r = 0; r < rows; r++) {
        const int16_t *xr = x + r * (size_t)n;
        int16_t *yr = y + r * (size_t)n;
        int mx = -32768, hp1, right;
        int64_t sum = 0, shifted;
        int32_t recip;
        for (j = 0; j < n; j++) mx = one_max_i(mx, xr[j]);
        for (j = 0; j < n; j++) sum += one_softmax_exp16(mx - xr[j], m, shift, exp_lut);
        hp1 = one_clz32((uint32_t)sum);
        shifted = ((sum << (hp1 - 1)) + (1 << 13)) >> 14;
        recip = one_lut16((int32_t)one_clamp64(shifted - ((1 << 15) + (1 << 16)), -32768, 32767), recip_lut);
        right = 31 - hp1;
        for (j = 0; j < n; j++) {
            const int64_t e = one_softmax_exp16(mx - xr[j], m, shift, exp_lut);
            yr[j] = (int16_t)one_clamp64((e * recip + ((int64_t)1 << (right - 1))) >> right, 0, 32767);
        }
    }
}
