/* conv_q.c: quantized matrix products and convolutions (one codegen).

   Same structure as conv_f32.c: a register tile of ONE_QMR rows by ONE_QNR columns with constant
   loop bounds (vectorized multiply-adds into int32 registers) over packed weight panels, im2col
   blocks in scratch memory for convolutions other than 1x1, and a per-channel requantization of
   every finished tile. 16x8 sums run in int32 over blocks of ONE_QKB products (each below
   2^22 in magnitude, so a block cannot overflow) added into int64 totals. */
#include "conv_q.h"
#include "conv_f32.h"


#define ONE_QMR 6
/* Channels requantized per pass (a stack buffer of int32). */
#define ONE_RQ_CHUNK 256
#define ONE_QMC 72

/* FN: rows [first, first + count) of the im2col matrix of the batch `in` (one row per output
   pixel, images one after another; taps times channels), each element CONV(x) of type TD;
   padding reads as PAD. */
#define ONE_DEFINE_IM2COL(FN, TA, TD, PAD, CONV)                                                            \
    static void FN(const one_conv_q_params *p, const TA *in, int first, int count, TD *rows)                \
    {                                                                                                       \
        const int row_len = p->k_h * p->k_w * p->in_c, zp = p->in_zp, per_image = p->out_h * p->out_w;     \
        int r, ky, kx, c;                                                                                   \
        (void)zp;                                                                                           \
        for (r = 0; r < count; r++) {                                                                       \
            const int pix = (first + r) % per_image;                                                        \
            const TA *img = in + (size_t)((first + r) / per_image) * p->in_h * p->in_w * p->in_c;           \
            const int oy = pix / p->out_w, ox = pix % p->out_w;                                             \
            TD *dst = rows + (size_t)r * row_len;                                                           \
            for (ky = 0; ky < p->k_h; ky++) {                                                               \
                const int iy = oy * p->stride_h - p->pad_top + ky * p->dil_h;                               \
                for (kx = 0; kx < p->k_w; kx++) {                                                           \
                    const int ix = ox * p->stride_w - p->pad_left + kx * p->dil_w;                          \
                    TD *ONE_RESTRICT d = dst + (size_t)(ky * p->k_w + kx) * p->in_c;                        \
                    if (iy < 0 || iy >= p->in_h || ix < 0 || ix >= p->in_w) {                               \
                        for (c = 0; c < p->in_c; c++) d[c] = (PAD);                                         \
                    } else {                                                                                \
                        const TA *ONE_RESTRICT x = img + ((size_t)iy * p->in_w + ix) * p->in_c;             \
                        for (c = 0; c < p->in_c; c++) d[c] = CONV;                                          \
                    }                                                                                       \
                }                                                                                           \
            }                                                                                               \
        }                                                                                                   \
    }

ONE_DEFINE_IM2COL(one_im2col_qs8, int8_t, int8_t, (int8_t)zp, x[c])
ONE_DEFINE_IM2COL(one_im2col_qu8, uint8_t, uint8_t, (uint8_t)zp, x[c])
ONE_DEFINE_IM2COL(one_im2col_qs16, int16_t, int16_t, (int16_t)zp, x[c])
ONE_DEFINE_IM2COL(one_im2col_qfs8, int8_t, float, 0.0f, (float)(x[c] - zp))
ONE_DEFINE_IM2COL(one_im2col_qfu8, uint8_t, float, 0.0f, (float)(x[c] - zp))

#define ONE_DEFINE_CONV_Q(SUF, TA, TACC, KBLOCK)                                                            \
    static void one_tile_q##SUF(int k, const TA *ONE_RESTRICT a, int lda, const int16_t *ONE_RESTRICT b,     \
                                int rows, TACC total[ONE_QMR][ONE_QNR])                                     \
    {                                                                                                       \
        int32_t acc[ONE_QMR][ONE_QNR];                                                                      \
        int i, j, kk, k0;                                                                                   \
        for (i = 0; i < ONE_QMR; i++)                                                                       \
            for (j = 0; j < ONE_QNR; j++) total[i][j] = 0;                                                  \
        for (k0 = 0; k0 < k; k0 += (KBLOCK)) {                                                              \
            const int k1 = one_min_i(k, k0 + (KBLOCK));                                                     \
            for (i = 0; i < ONE_QMR; i++)                                                                   \
                for (j = 0; j < ONE_QNR; j++) acc[i][j] = 0;                                                \
            if (rows == ONE_QMR) {                                                                          \
                for (kk = k0; kk < k1; kk++) {                                                              \
                    const int16_t *bk = b + (size_t)kk * ONE_QNR;                                           \
                    for (i = 0; i < ONE_QMR; i++) {                                                         \
                        const int32_t av = a[(size_t)i * lda + kk];                                         \
                        for (j = 0; j < ONE_QNR; j++) acc[i][j] += av * bk[j];                              \
                    }                                                                                       \
                }                                                                                           \
            } else {                                                                                        \
                for (kk = k0; kk < k1; kk++) {                                                              \
                    const int16_t *bk = b + (size_t)kk * ONE_QNR;                                           \
                    for (i = 0; i < rows; i++) {                                                            \
                        const int32_t av = a[(size_t)i * lda + kk];                                         \
                        for (j = 0; j < ONE_QNR; j++) acc[i][j] += av * bk[j];                              \
                    }                                                                                       \
                }                                                                                           \
            }                                                                                               \
            for (i = 0; i < ONE_QMR; i++)                                                                   \
                for (j = 0; j < ONE_QNR; j++) total[i][j] += acc[i][j];                                     \
        }                                                                                                   \
    }                                                                                                       \
                                                                                                            \
    static void one_store_q##SUF(const one_rq *rq, int c0, int n, const TACC *ONE_RESTRICT acc,            \
                                 const TACC *ONE_RESTRICT bias, TA *ONE_RESTRICT out)                       \
    {                                                                                                       \
        int32_t t[ONE_RQ_CHUNK];                                                                            \
        const int32_t zp = rq->zp, lo = rq->lo, hi = rq->hi; /* locals: 8-bit stores may alias *rq */     \
        int j, j0;                                                                                          \
        if (rq->mode != ONE_RQ_DOUBLE) {                                                                    \
            for (j = 0; j < n; j++) out[j] = (TA)one_requant(rq, (int64_t)acc[j] + bias[c0 + j], c0 + j);  \
            return;                                                                                         \
        }                                                                                                   \
        for (j0 = 0; j0 < n; j0 += ONE_RQ_CHUNK) {                                                          \
            const int cn = one_min_i(ONE_RQ_CHUNK, n - j0), c = c0 + j0;                                    \
            const int32_t *ONE_RESTRICT mult = rq->mult + c, *ONE_RESTRICT left = rq->left + c;             \
            const int32_t *ONE_RESTRICT total = rq->total + c;                                              \
            const int64_t *ONE_RESTRICT add = rq->add + c, *ONE_RESTRICT negw = rq->negw + c;               \
            const TACC *ONE_RESTRICT a = acc + j0, *ONE_RESTRICT bi = bias + c;                             \
            for (j = 0; j < cn; j++) {                                                                      \
                const int64_t x = ((int64_t)a[j] + bi[j]) << left[j];                                      \
                t[j] = (int32_t)((x * mult[j] + add[j] + ((x >> 63) & negw[j])) >> total[j]);               \
            }                                                                                               \
            for (j = 0; j < cn; j++) {                                                                      \
                const int32_t v = t[j] + zp;                                                                \
                out[j0 + j] = (TA)(v < lo ? lo : (v > hi ? hi : v));                                        \
            }                                                                                               \
        }                                                                                                   \
    }                                                                                                       \
                                                                                                            \
    void one_gemm_q##SUF(int m, int n, int k, const TA *a, int lda, const int16_t *b_packed,                \
                         const TACC *bias, const one_rq *rq, TA *c, int ldc)                                \
    {                                                                                                       \
        TACC total[ONE_QMR][ONE_QNR];                                                                       \
        const int panels = (n + ONE_QNR - 1) / ONE_QNR;                                                     \
        int i0, p, i, r;                                                                                    \
        for (i0 = 0; i0 < m; i0 += ONE_QMC) {                                                               \
            const int mc = one_min_i(ONE_QMC, m - i0);                                                      \
            for (p = 0; p < panels; p++) {                                                                  \
                const int16_t *b = b_packed + (size_t)p * k * ONE_QNR;                                      \
                const int cols = one_min_i(ONE_QNR, n - p * ONE_QNR);                                       \
                for (i = 0; i < mc; i += ONE_QMR) {                                                         \
                    const int rows = one_min_i(ONE_QMR, mc - i);                                            \
                    one_tile_q##SUF(k, a + (size_t)(i0 + i) * lda, lda, b, rows, total);                    \
                    for (r = 0; r < rows; r++)                                                              \
                        one_store_q##SUF(rq, p * ONE_QNR, cols, total[r], bias,                             \
                                         c + (size_t)(i0 + i + r) * ldc + p * ONE_QNR);                     \
                }                                                                                           \
            }                                                                                               \
        }                                                                                                   \
    }                                                                                                       \
                                                                                                            \
    void one_conv2d_q##SUF(const one_conv_q_params *p, const TA *in, const int16_t *w_packed,               \
                           const TACC *bias, TA *out, TA *scratch)                                          \
    {                                                                                                       \
        const int pixels = p->out_h * p->out_w;                                                             \
        const int k = p->k_h * p->k_w * p->in_c;                                                            \
        int b, r;                                                                                           \
        for (b = 0; b < p->batch; b++) {                                                                    \
            const TA *img = in + (size_t)b * p->in_h * p->in_w * p->in_c;                                   \
            TA *dst = out + (size_t)b * pixels * p->out_c;                                                  \
            if (scratch == NULL) {                                                                          \
                one_gemm_q##SUF(pixels, p->out_c, k, img, p->in_c, w_packed, bias, &p->rq, dst, p->out_c);  \
                continue;                                                                                   \
            }                                                                                               \
            for (r = 0; r < pixels; r += p->block_rows) {                                                   \
                const int count = one_min_i(p->block_rows, pixels - r);                                     \
                one_im2col_q##SUF(p, img, r, count, scratch);                                               \
                one_gemm_q##SUF(count, p->out_c, k, scratch, k, w_packed, bias, &p->rq,                     \
                                dst + (size_t)r * p->out_c, p->out_c);                                      \
            }                                                                                               \
        }                                                                                                   \
    }                                                                                                       \
                                                                                                            \
    void one_depthwise_conv2d_q##SUF(const one_conv_q_params *p, const TA *in, const int16_t *w,            \
                                     const TACC *bias, TA *out, TACC *acc)                                  \
    {                                                                                                       \
        const int co = p->out_c, mult = p->depth_multiplier, zp = p->in_zp, rows = p->batch * p->out_h;    \
        const size_t row = (size_t)p->out_w * co;                                                           \
        int r;                                                                                              \
        /* Output rows are independent; each of up to p->slots threads sums into its own acc row. */      \
        ONE_PARALLEL_SLOTS(p->slots, (double)rows * row * p->k_h * p->k_w)                                  \
        for (r = 0; r < rows; r++) {                                                                        \
            const int b = r / p->out_h, oy = r % p->out_h;                                                  \
            const TA *img = in + (size_t)b * p->in_h * p->in_w * p->in_c;                                   \
            TACC *ONE_RESTRICT sums = acc + (size_t)ONE_THREAD_NUM * row;                                   \
            TA *dst = out + (size_t)r * row;                                                                \
            int ox, ky, kx, c;                                                                              \
            size_t i;                                                                                       \
            for (i = 0; i < row; i++) sums[i] = 0;                                                          \
            for (ky = 0; ky < p->k_h; ky++) {                                                               \
                const int iy = oy * p->stride_h - p->pad_top + ky * p->dil_h;                               \
                if (iy < 0 || iy >= p->in_h) continue;                                                      \
                for (kx = 0; kx < p->k_w; kx++) {                                                           \
                    const int16_t *ONE_RESTRICT wt = w + (size_t)(ky * p->k_w + kx) * co;                  \
                    for (ox = 0; ox < p->out_w; ox++) {                                                     \
                        const int ix = ox * p->stride_w - p->pad_left + kx * p->dil_w;                      \
                        const TA *ONE_RESTRICT x = img + ((size_t)iy * p->in_w + ix) * p->in_c;             \
                        TACC *ONE_RESTRICT a = sums + (size_t)ox * co;                                      \
                        if (ix < 0 || ix >= p->in_w) continue;                                              \
                        if (mult == 1 && p->narrow) { /* products in int16: faster multiplies */           \
                            for (c = 0; c < co; c++) a[c] += (int16_t)((int16_t)(x[c] - zp) * wt[c]);       \
                        } else if (mult == 1) {                                                             \
                            for (c = 0; c < co; c++) a[c] += (TACC)((x[c] - zp) * wt[c]);                   \
                        } else {                                                                            \
                            for (c = 0; c < co; c++) a[c] += (TACC)((x[c / mult] - zp) * wt[c]);            \
                        }                                                                                   \
                    }                                                                                       \
                }                                                                                           \
            }                                                                                               \
            for (ox = 0; ox < p->out_w; ox++)                                                               \
                one_store_q##SUF(&p->rq, 0, co, sums + (size_t)ox * co, bias, dst + (size_t)ox * co);       \
        }                                                                                                   \
    }

ONE_DEFINE_CONV_Q(s8, int8_t, int32_t, 1 << 30)
ONE_DEFINE_CONV_Q(u8, uint8_t, int32_t, 1 << 30)
ONE_DEFINE_CONV_Q(s16, int16_t, int64_t, 256)

#define ONE_DEFINE_CONV_QF(SUF, TA)                                                                         \
    static void one_requant_rows_f##SUF(const one_rq *rq, int rows, int n, const float *ONE_RESTRICT acc,   \
                                        const int32_t *ONE_RESTRICT bias, TA *ONE_RESTRICT out, int ldo)    \
    {                                                                                                       \
        int32_t t[ONE_RQ_CHUNK];                                                                            \
        int r, j, j0;                                                                                       \
        for (r = 0; r < rows; r++) {                                                                        \
            for (j0 = 0; j0 < n; j0 += ONE_RQ_CHUNK) {                                                      \
                const int cn = one_min_i(ONE_RQ_CHUNK, n - j0);                                             \
                const float *ONE_RESTRICT a = acc + (size_t)r * n + j0;                                     \
                for (j = 0; j < cn; j++) t[j] = (int32_t)a[j];                                              \
                one_store_q##SUF(rq, j0, cn, t, bias, out + (size_t)r * ldo + j0);                          \
            }                                                                                               \
        }                                                                                                   \
    }                                                                                                       \
                                                                                                            \
    void one_gemm_qf##SUF(int m, int n, int k, const TA *a, int in_zp, const float *wf, const int8_t *w8,   \
                          const int32_t *bias, const one_rq *rq, TA *c, int slots, float *a_rows,          \
                          float *c_rows)                                                                    \
    {                                                                                                       \
        const int blocks = (m + ONE_QF_ROWS - 1) / ONE_QF_ROWS;                                             \
        int blk;                                                                                            \
        (void)slots;                                                                                        \
        ONE_PARALLEL_SLOTS(slots, (double)m * n * k)                                                        \
        for (blk = 0; blk < blocks; blk++) {                                                                \
            const int r0 = blk * ONE_QF_ROWS, count = one_min_i(ONE_QF_ROWS, m - r0);                       \
            float *ONE_RESTRICT ar = a_rows + (size_t)ONE_THREAD_NUM * ONE_QF_ROWS * k;                     \
            float *cr = c_rows + (size_t)ONE_THREAD_NUM * ONE_QF_ROWS * n;                                  \
            const TA *ONE_RESTRICT src = a + (size_t)r0 * k;                                                \
            int i;                                                                                          \
            for (i = 0; i < count * k; i++) ar[i] = (float)(src[i] - in_zp);                                \
            one_gemm_f32_block(count, n, k, ar, wf, w8, cr);                                                \
            one_requant_rows_f##SUF(rq, count, n, cr, bias, c + (size_t)r0 * n, n);                         \
        }                                                                                                   \
    }                                                                                                       \
                                                                                                            \
    void one_conv2d_qf##SUF(const one_conv_q_params *p, const TA *in, const float *wf, const int8_t *w8,    \
                            const int32_t *bias, TA *out, float *a_rows, float *c_rows)                     \
    {                                                                                                       \
        /* Blocks run over the pixels of all images in turn (im2col finds each pixel's image). */          \
        const int rows = p->batch * p->out_h * p->out_w, k = p->k_h * p->k_w * p->in_c, n = p->out_c;      \
        const int pointwise = p->k_h == 1 && p->k_w == 1 && p->stride_h == 1 && p->stride_w == 1 &&        \
                              p->pad_top == 0 && p->pad_left == 0 && p->out_h == p->in_h && p->out_w == p->in_w; \
        const int blocks = (rows + ONE_QF_ROWS - 1) / ONE_QF_ROWS;                                          \
        int blk;                                                                                            \
        ONE_PARALLEL_SLOTS(p->slots, (double)rows * n * k)                                                  \
        for (blk = 0; blk < blocks; blk++) {                                                                \
            const int r = blk * ONE_QF_ROWS, count = one_min_i(ONE_QF_ROWS, rows - r);                      \
            float *ONE_RESTRICT ar = a_rows + (size_t)ONE_THREAD_NUM * ONE_QF_ROWS * k;                     \
            float *cr = c_rows + (size_t)ONE_THREAD_NUM * ONE_QF_ROWS * n;                                  \
            if (pointwise) { /* the rows are the input's own pixels: convert them in one run */            \
                const TA *ONE_RESTRICT x = in + (size_t)r * k;                                              \
                int i;                                                                                      \
                for (i = 0; i < count * k; i++) ar[i] = (float)(x[i] - p->in_zp);                           \
            } else {                                                                                        \
                one_im2col_qf##SUF(p, in, r, count, ar);                                                    \
            }                                                                                               \
            one_gemm_f32_block(count, n, k, ar, wf, w8, cr);                                                \
            one_requant_rows_f##SUF(&p->rq, count, n, cr, bias, out + (size_t)r * n, n);                    \
        }                                                                                                   \
    }

ONE_DEFINE_CONV_QF(s8, int8_t)
ONE_DEFINE_CONV_QF(u8, uint8_t)
