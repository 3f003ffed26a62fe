/* conv_f32.c: float32 matrix products and convolutions (one codegen).

   The matrix product is blocked for the caches (ONE_MC rows of A by ONE_KC of its columns stay
   close while every weight panel streams past) and its inner tile (ONE_MR rows by ONE_NR
   columns) is a plain loop nest with constant bounds, which compilers turn into vector
   multiply-adds on registers. Convolutions other than 1x1 gather input windows into rows of a
   scratch block (im2col) and multiply that block. */
#include "conv_f32.h"

#include <string.h>

#define ONE_MR 6
#define ONE_KC 256
#define ONE_MC 72

static void one_tile_f32(int kc, const float *ONE_RESTRICT a, int lda, const float *ONE_RESTRICT b,
                         float *ONE_RESTRICT c, int ldc, int rows, int cols, int first, int last,
                         const float *bias, float lo, float hi)
{
    float acc[ONE_MR][ONE_NR];
    int i, j, k;
    for (i = 0; i < ONE_MR; i++)
        for (j = 0; j < ONE_NR; j++) acc[i][j] = 0.0f;
    if (rows == ONE_MR) {
        for (k = 0; k < kc; k++) {
            const float *bk = b + k * ONE_NR;
            for (i = 0; i < ONE_MR; i++) {
                const float av = a[i * lda + k];
                for (j = 0; j < ONE_NR; j++) acc[i][j] += av * bk[j];
            }
        }
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

void one_gemm_f32(int m, int n, int k, const float *a, int lda, const float *b_packed, const float *bias,
                  float *c, int ldc, float act_min, float act_max)
{
    int panels = (n + ONE_NR - 1) / ONE_NR;
    int i0, k0, p, i;
    for (i0 = 0; i0 < m; i0 += ONE_MC) {
        int mc = one_min_i(ONE_MC, m - i0);
        for (k0 = 0; k0 < k; k0 += ONE_KC) {
            int kc = one_min_i(ONE_KC, k - k0);
            for (p = 0; p < panels; p++) {
                const float *b = b_packed + (size_t)p * k * ONE_NR + (size_t)k0 * ONE_NR;
                int cols = one_min_i(ONE_NR, n - p * ONE_NR);
                const float *bias_p = bias != NULL ? bias + p * ONE_NR : NULL;
                for (i = 0; i < mc; i += ONE_MR) {
                    one_tile_f32(kc, a + (size_t)(i0 + i) * lda + k0, lda, b,
                                 c + (size_t)(i0 + i) * ldc + p * ONE_NR, ldc, one_min_i(ONE_MR, mc - i), cols,
                                 k0 == 0, k0 + kc >= k, bias_p, act_min, act_max);
                }
            }
        }
    }
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
    const int c_out = p->out_c, mult = p->depth_multiplier;
    int b, oy, ox, ky, kx, c;
    for (b = 0; b < p->batch; b++) {
        const float *img = in + (size_t)b * p->in_h * p->in_w * p->in_c;
        for (oy = 0; oy < p->out_h; oy++) {
            for (ox = 0; ox < p->out_w; ox++) {
                float *ONE_RESTRICT acc = out + (((size_t)b * p->out_h + oy) * p->out_w + ox) * c_out;
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
}
