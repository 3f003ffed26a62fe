/* conv_q.h: quantized matrix products and convolutions (one codegen).

   Three element types, one suffix each: s8 (int8 activations, int32 accumulators), u8 (uint8,
   int32) and s16 (16x8: int16 activations, int64 accumulators). Weights are int16 (int8 weights,
   or uint8 weights minus their zero point), packed like conv_f32's panels; the input zero point
   is folded into the per-channel bias (and im2col pads with it). Results are requantized per
   output channel exactly as LiteRT's reference kernels do. */
#ifndef ONE_CONV_Q_H
#define ONE_CONV_Q_H

#include "one_common.h"

/* Columns of one packed weight panel (PANEL in ops/common.py). */
#define ONE_QNR 16

/* Rescale modes: TFLite's MultiplyByQuantizedMultiplier (two roundings), its 64-bit-accumulator
   variant (16-bit multiplier, one rounding) and the single-rounding one (uint8 FULLY_CONNECTED). */
enum { ONE_RQ_DOUBLE = 0, ONE_RQ_WIDE = 1, ONE_RQ_SINGLE = 2 };

/* Per-output-channel requantization: out = clamp(rescale(acc, mult[c], shift[c]) + zp, lo, hi). */
typedef struct {
    const int32_t *mult;
    const int32_t *shift;
    int zp, lo, hi, mode;
    /* ONE_RQ_DOUBLE's two roundings folded into one shift, per channel, so rows vectorize:
       x' = x << left; (x' * mult + add + (x' < 0 ? negw : 0)) >> total. */
    const int32_t *left;
    const int64_t *add;
    const int64_t *negw;
    const int32_t *total;
} one_rq;

typedef struct {
    int batch, in_h, in_w, in_c, out_h, out_w, out_c;
    int k_h, k_w, stride_h, stride_w, dil_h, dil_w, pad_top, pad_left;
    int depth_multiplier; /* depthwise only */
    int block_rows;       /* output pixels per im2col block */
    int in_zp;            /* im2col padding value; depthwise subtracts it */
    one_rq rq;
    int narrow;           /* depthwise: every (x - in_zp) * w fits int16 (checked at generation) */
    int slots;            /* scratch blocks planned (exact-float path, depthwise): one per OpenMP thread */
} one_conv_q_params;

ONE_INLINE int32_t one_requant(const one_rq *rq, int64_t acc, int c)
{
    int64_t v;
    if (rq->mode == ONE_RQ_WIDE) v = one_mul_by_qm64(acc, rq->mult[c], rq->shift[c]);
    else if (rq->mode == ONE_RQ_SINGLE) v = one_mul_by_qm_single(acc, rq->mult[c], rq->shift[c]);
    else v = one_rescale_double64(acc, rq->mult[c], rq->shift[c]);
    v += rq->zp;
    return (int32_t)(v < rq->lo ? rq->lo : (v > rq->hi ? rq->hi : v));
}

#define ONE_DECLARE_CONV_Q(SUF, TA, TACC)                                                                    \
    /* c[m][n] = requant(sum_k a[m][k] * b[k][n] + bias[n]), b packed in ONE_QNR-column panels. */        \
    void one_gemm_q##SUF(int m, int n, int k, const TA *a, int lda, const int16_t *b_packed,                \
                         const TACC *bias, const one_rq *rq, TA *c, int ldc);                               \
    /* NHWC; scratch (block_rows * k_h * k_w * in_c elements) may be NULL for 1x1, stride 1, no pad. */    \
    void one_conv2d_q##SUF(const one_conv_q_params *p, const TA *in, const int16_t *w_packed,               \
                           const TACC *bias, TA *out, TA *scratch);                                         \
    /* weights [k_h][k_w][out_c]; acc: slots * out_w * out_c accumulators of scratch. */                           \
    void one_depthwise_conv2d_q##SUF(const one_conv_q_params *p, const TA *in, const int16_t *w,            \
                                     const TACC *bias, TA *out, TACC *acc);

/* 8-bit paths whose sums are exact in float32 (generation checks that every partial sum stays
   below 2^24): the activations minus their zero point become floats in blocks of at most
   ONE_QF_ROWS rows (a_rows: ONE_QF_ROWS * k floats), the float matrix product multiplies them by
   the weight panels into c_rows (ONE_QF_ROWS * n floats), and each row is requantized. The
   weights are int8 panels (w8, kept in 8 bits) when they fit, else float panels (wf); the
   other pointer is NULL. a_rows and c_rows hold `slots` blocks each: built with OpenMP, up to
   that many threads take blocks of rows, each with its own scratch. */
#define ONE_QF_ROWS 72

#define ONE_DECLARE_CONV_QF(SUF, TA)                                                                         \
    void one_gemm_qf##SUF(int m, int n, int k, const TA *a, int in_zp, const float *wf, const int8_t *w8,   \
                          const int32_t *bias, const one_rq *rq, TA *c, int slots, float *a_rows,          \
                          float *c_rows);                                                                   \
    void one_conv2d_qf##SUF(const one_conv_q_params *p, const TA *in, const float *wf, const int8_t *w8,    \
                            const int32_t *bias, TA *out, float *a_rows, float *c_rows);

ONE_DECLARE_CONV_QF(s8, int8_t)
ONE_DECLARE_CONV_QF(u8, uint8_t)

ONE_DECLARE_CONV_Q(s8, int8_t, int32_t)
ONE_DECLARE_CONV_Q(u8, uint8_t, int32_t)
ONE_DECLARE_CONV_Q(s16, int16_t, int64_t)

#endif
