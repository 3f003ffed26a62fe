/* conv_f32.c: float32 matrix products and convolutions (one codegen).

   The matrix product is blocked for the caches (ONE_MC rows of A by ONE_KC of its columns stay
   close while every weight panel streams past) and its inner tile (ONE_MR rows by ONE_NR
   columns) is a plain loop nest with constant bounds, which compilers turn into vector
   multiply-adds on registers. Convolutions other than 1x1 gather input windows into rows of a
   scratch block (im2col) and multiply that block. */
#include "conv_f32.h"

#include <string.h>

/* Rows of the register tile: 12 vector accumulators where there are 32 vector registers. */
#if defined(__AVX512F__)
#define ONE_MR 12
#else
#define ONE_MR 6
#endif
#define ONE_KC 256
#define ONE_MC 72

#if defined(__GNUC__) && !defined(ONE_PORTABLE) && defined(__AVX512F__)
/* GCC and Clang with 512-bit vectors: 12 rows of one-vector accumulators, kept in registers. */
typedef float one_vf __attribute__((vector_size(ONE_NR * sizeof(float)), aligned(sizeof(float))));

static void one_full_tile_f32(int kc, const float *ONE_RESTRICT a, int lda, const float *ONE_RESTRICT b,
                              float acc[ONE_MR][ONE_NR])
{
    one_vf c0 = {0}, c1 = {0}, c2 = {0}, c3 = {0}, c4 = {0}, c5 = {0};
    one_vf c6 = {0}, c7 = {0}, c8 = {0}, c9 = {0}, c10 = {0}, c11 = {0};
    int k;
    for (k = 0; k < kc; k++) {
        const one_vf bk = *(const one_vf *)(b + k * ONE_NR);
        c0 += a[0 * lda + k] * bk;
        c1 += a[1 * lda + k] * bk;
        c2 += a[2 * lda + k] * bk;
        c3 += a[3 * lda + k] * bk;
        c4 += a[4 * lda + k] * bk;
        c5 += a[5 * lda + k] * bk;
        c6 += a[6 * lda + k] * bk;
        c7 += a[7 * lda + k] * bk;
        c8 += a[8 * lda + k] * bk;
        c9 += a[9 * lda + k] * bk;
        c10 += a[10 * lda + k] * bk;
        c11 += a[11 * lda + k] * bk;
    }
    *(one_vf *)acc[0] = c0;
    *(one_vf *)acc[1] = c1;
    *(one_vf *)acc[2] = c2;
    *(one_vf *)acc[3] = c3;
    *(one_vf *)acc[4] = c4;
    *(one_vf *)acc[5] = c5;
    *(one_vf *)acc[6] = c6;
    *(one_vf *)acc[7] = c7;
    *(one_vf *)acc[8] = c8;
    *(one_vf *)acc[9] = c9;
    *(one_vf *)acc[10] = c10;
    *(one_vf *)acc[11] = c11;
}
#elif defined(__GNUC__) && !defined(ONE_PORTABLE)
/* GCC and Clang otherwise: 6 rows of two half-panel accumulators (fits 16 vector registers of
   256 bits; 128-bit targets split each half in two). */
typedef float one_vh __attribute__((vector_size(ONE_NR / 2 * sizeof(float)), aligned(sizeof(float))));

static void one_full_tile_f32(int kc, const float *ONE_RESTRICT a, int lda, const float *ONE_RESTRICT b,
                              float acc[ONE_MR][ONE_NR])
{
    one_vh c0a = {0}, c0b = {0}, c1a = {0}, c1b = {0}, c2a = {0}, c2b = {0}, c3a = {0}, c3b = {0}, c4a = {0}, c4b = {0}, c5a = {0}, c5b = {0};
    int k;
    for (k = 0; k < kc; k++) {
        const one_vh b0 = *(const one_vh *)(b + k * ONE_NR), b1 = *(const one_vh *)(b + k * ONE_NR + ONE_NR / 2);
        c0a += a[0 * lda + k] * b0;
        c0b += a[0 * lda + k] * b1;
        c1a += a[1 * lda + k] * b0;
        c1b += a[1 * lda + k] * b1;
        c2a += a[2 * lda + k] * b0;
        c2b += a[2 * lda + k] * b1;
        c3a += a[3 * lda + k] * b0;
        c3b += a[3 * lda + k] * b1;
        c4a += a[4 * lda + k] * b0;
        c4b += a[4 * lda + k] * b1;
        c5a += a[5 * lda + k] * b0;
        c5b += a[5 * lda + k] * b1;
    }
    *(one_vh *)acc[0] = c0a;
    *(one_vh *)(acc[0] + ONE_NR / 2) = c0b;
    *(one_vh *)acc[1] = c1a;
    *(one_vh *)(acc[1] + ONE_NR / 2) = c1b;
    *(one_vh *)acc[2] = c2a;
    *(one_vh *)(acc[2] + ONE_NR / 2) = c2b;
    *(one_vh *)acc[3] = c3a;
    *(one_vh *)(acc[3] + ONE_NR / 2) = c3b;
    *(one_vh *)acc[4] = c4a;
    *(one_vh *)(acc[4] + ONE_NR / 2) = c4b;
    *(one_vh *)acc[5] = c5a;
    *(one_vh *)(acc[5] + ONE_NR / 2) = c5b;
}
#else
static void one_full_tile_f32(int kc, const float *ONE_RESTRICT a, int lda, const float *ONE_RESTRICT b,
                              float acc[ONE_MR][ONE_NR])
{
    int i, j, k;
    for (k = 0; k < kc; k++) {
        const float *bk = b + k * ONE_NR;
        for (i = 0; i < ONE_MR; i++) {
            const float av = a[i * lda + k];
            for (j = 0; j < ONE_NR; j++) acc[i][j] += av * bk[j];
        }
    }
}
#endif

static void one_tile_f32(int kc, const float *ONE_RESTRICT a, int lda, const float *ONE_RESTRICT b,
                         float *ONE_RESTRICT c, int ldc, int rows, int cols, int first, int last,
                         const float *bias, float lo, float hi)
{
    float acc[ONE_MR][ONE_NR];
    int i, j, k;
    for (i = 0; i < ONE_MR; i++)
        for (j = 0; j < ONE_NR; j++) acc[i][j] = 0.0f;
    if (rows == ONE_MR) {
        one_full_tile_f32(kc, a, lda, b, acc);
    } else {
        for (k = 0; k < kc; k++) {
            const float *bk = b + k * ONE_NR;
            for (i = 0; i < rows; i++) {
                const float av = a[i * lda + k];
                for (j = 0; j < ONE_NR; j++) acc[i][j] += av * bk[j];
            }
        }
    }
    for (i = 0; i < rows; i++) {
        float *ci = c + (size_t)i * ldc;
        for (j = 0; j < cols; j++) {
            float v = acc[i][j] + (first ? (bias != NULL ? bias[j] : 0.0f) : ci[j]);
            ci[j] = last ? one_clamp_f(v, lo, hi) : v;
        }
    }
}

/* The matrix product on float32 weight panels, or on int8 panels (b8) widened to float one
   ONE_KC block of a panel at a time, then reused by every row tile of the block. */
static void one_gemm(int m, int n, int k, const float *a, int lda, const float *b_packed, const int8_t *b8,
                     const float *bias, float *c, int ldc, float act_min, float act_max, int share)
{
    const int panels = (n + ONE_NR - 1) / ONE_NR;
    const int tasks = (m + ONE_MC - 1) / ONE_MC * panels;
    int t;
    (void)share; /* read by the OpenMP clause only */
    /* One task is one block of rows times one weight panel; with OpenMP (-fopenmp) the tasks are
       shared by the threads, each output element still summed by one thread in one order. Only
       products of several row blocks are shared: the 8-bit path calls this once per block, and
       a fork and join per block cost more than they save. */
    ONE_PARALLEL_FOR(share ? (double)m * n * k : 0.0)
    for (t = 0; t < tasks; t++) {
        const int i0 = t / panels * ONE_MC, p = t % panels;
        const int mc = one_min_i(ONE_MC, m - i0), cols = one_min_i(ONE_NR, n - p * ONE_NR);
        const float *bias_p = bias != NULL ? bias + p * ONE_NR : NULL;
        float widened[ONE_KC * ONE_NR];
        int k0, i;
        for (k0 = 0; k0 < k; k0 += ONE_KC) {
            const int kc = one_min_i(ONE_KC, k - k0);
            const size_t at = (size_t)p * k * ONE_NR + (size_t)k0 * ONE_NR;
            const float *b = b_packed + at;
            if (b8 != NULL) {
                const int8_t *ONE_RESTRICT src = b8 + at;
                for (i = 0; i < kc * ONE_NR; i++) widened[i] = (float)src[i];
                b = widened;
            }
            for (i = 0; i < mc; i += ONE_MR) {
                one_tile_f32(kc, a + (size_t)(i0 + i) * lda + k0, lda, b, c + (size_t)(i0 + i) * ldc + p * ONE_NR,
                             ldc, one_min_i(ONE_MR, mc - i), cols, k0 == 0, k0 + kc >= k, bias_p, act_min, act_max);
            }
        }
    }
}

void one_gemm_f32(int m, int n, int k, const float *a, int lda, const float *b_packed, const float *bias,
                  float *c, int ldc, float act_min, float act_max)
{
    one_gemm(m, n, k, a, lda, b_packed, NULL, bias, c, ldc, act_min, act_max, 1);
}

void one_gemm_f32_block(int m, int n, int k, const float *a, const float *wf, const int8_t *w8, float *c)
{
    one_gemm(m, n, k, a, k, wf, w8, NULL, c, n, -INFINITY, INFINITY, 0);
}

/* Rows [first, first + count) of the im2col matrix of image `b`: one row per output pixel,
   k_h * k_w * in_c columns (tap-major, channels innermost); padding reads as zero. */
static void one_im2col_f32(const one_conv_f32_params *p, const float *img, int first, int count, float *rows)
{
    int r, ky, kx;
    const int row_len = p->k_h * p->k_w * p->in_c;
    for (r = 0; r < count; r++) {
        const int pix = first + r;
        const int oy = pix / p->out_w, ox = pix % p->out_w;
        float *dst = rows + (size_t)r * row_len;
        for (ky = 0; ky < p->k_h; ky++) {
            const int iy = oy * p->stride_h - p->pad_top + ky * p->dil_h;
            for (kx = 0; kx < p->k_w; kx++) {
                const int ix = ox * p->stride_w - p->pad_left + kx * p->dil_w;
                float *d = dst + (size_t)(ky * p->k_w + kx) * p->in_c;
                if (iy < 0 || iy >= p->in_h || ix < 0 || ix >= p->in_w) {
                    memset(d, 0, sizeof(float) * (size_t)p->in_c);
                } else {
                    memcpy(d, img + ((size_t)iy * p->in_w + ix) * p->in_c, sizeof(float) * (size_t)p->in_c);
                }
            }
        }
    }
}

void one_conv2d_f32(const one_conv_f32_params *p, const float *in, const float *w_packed, const float *bias,
                    float *out, float *scratch)
{
    const int pixels = p->out_h * p->out_w;
    const int k = p->k_h * p->k_w * p->in_c;
    int b, r;
    for (b = 0; b < p->batch; b++) {
        const float *img = in + (size_t)b * p->in_h * p->in_w * p->in_c;
        float *dst = out + (size_t)b * pixels * p->out_c;
        if (scratch == NULL) {
            one_gemm_f32(pixels, p->out_c, k, img, p->in_c, w_packed, bias, dst, p->out_c, p->act_min, p->act_max);
            continue;
        }
        for (r = 0; r < pixels; r += p->block_rows) {
            int count = one_min_i(p->block_rows, pixels - r);
            one_im2col_f32(p, img, r, count, scratch);
            one_gemm_f32(count, p->out_c, k, scratch, k, w_packed, bias, dst + (size_t)r * p->out_c, p->out_c,
                         p->act_min, p->act_max);
        }
    }
}

void one_depthwise_conv2d_f32(const one_conv_f32_params *p, const float *in, const float *w, const float *bias,
                              float *out)
{
    const int c_out = p->out_c, mult = p->depth_multiplier, rows = p->batch * p->out_h;
    int row;
    /* Output rows are independent: with OpenMP the threads share them. */
    ONE_PARALLEL_FOR((double)rows * p->out_w * c_out * p->k_h * p->k_w)
    for (row = 0; row < rows; row++) {
        const int b = row / p->out_h, oy = row % p->out_h;
        const float *img = in + (size_t)b * p->in_h * p->in_w * p->in_c;
        int ox, ky, kx, c;
        for (ox = 0; ox < p->out_w; ox++) {
            float *ONE_RESTRICT acc = out + ((size_t)row * p->out_w + ox) * c_out;
            for (c = 0; c < c_out; c++) acc[c] = bias != NULL ? bias[c] : 0.0f;
            for (ky = 0; ky < p->k_h; ky++) {
                const int iy = oy * p->stride_h - p->pad_top + ky * p->dil_h;
                if (iy < 0 || iy >= p->in_h) continue;
                for (kx = 0; kx < p->k_w; kx++) {
                    const int ix = ox * p->stride_w - p->pad_left + kx * p->dil_w;
                    const float *ONE_RESTRICT x = img + ((size_t)iy * p->in_w + ix) * p->in_c;
                    const float *ONE_RESTRICT wt = w + (size_t)(ky * p->k_w + kx) * c_out;
                    if (ix < 0 || ix >= p->in_w) continue;
                    if (mult == 1) {
                        for (c = 0; c < c_out; c++) acc[c] += x[c] * wt[c];
                    } else {
                        for (c = 0; c < c_out; c++) acc[c] += x[c / mult] * wt[c];
                    }
                }
            }
            for (c = 0; c < c_out; c++) acc[c] = one_clamp_f(acc[c], p->act_min, p->act_max);
        }
    }
}
