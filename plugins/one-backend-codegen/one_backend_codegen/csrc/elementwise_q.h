/* elementwise_q.h: quantized elementwise operators, (de)quantization, softmax, pooling and means
   (one codegen). Suffixes name the element type: s8 (int8), u8 (uint8), s16 (int16). Every
   multiplier, shift and table is computed at generation time with the runtime's functions. */
#ifndef ONE_ELEMENTWISE_Q_H
#define ONE_ELEMENTWISE_Q_H

#include "one_common.h"

#define ONE_Q_MAX_RANK 8

/* ADD/SUB (TFLite's general rescaling path), ADD/SUB on power-of-two int16 scales, MUL. */
enum { ONE_Q_ADD = 0, ONE_Q_ADD_POT = 1, ONE_Q_MUL = 2 };

typedef struct {
    int op, sign;              /* sign: +1 ADD, -1 SUB */
    int a_zp, b_zp, left_shift;
    int32_t a_mult; int a_shift;  /* ADD_POT: a_shift, b_shift are right shifts */
    int32_t b_mult; int b_shift;
    int32_t out_mult; int out_shift;
    int out_zp, lo, hi;
} one_binary_q_params;

/* Window pooling on NHWC (out = clamp(...)): average (TFLite's rounding) or maximum. */
typedef struct {
    int batch, in_h, in_w, c, out_h, out_w, k_h, k_w, stride_h, stride_w, pad_top, pad_left;
    int is_max, lo, hi;
} one_pool_q_params;

#define ONE_DECLARE_ELEMENTWISE_Q(SUF, T)                                                                 \
    /* y = op(a, b) over `rank` dims (y contiguous; strides in elements, 0 when broadcast). */          \
    void one_binary_q##SUF(const one_binary_q_params *p, int rank, const int *shape, const int *a_stride, \
                           const int *b_stride, const T *a, const T *b, T *y);                            \
    /* y = clamp(rescale(x - in_zp, m, shift) + out_zp, lo, hi) (QUANTIZE between integer types). */     \
    void one_requantize_q##SUF(size_t n, const T *x, int in_zp, int32_t m, int shift, int out_zp, int lo, \
                               int hi, void *y, int out_bytes, int out_signed);                           \
    /* y = (float)(x - zp) * scale. */                                                                   \
    void one_dequantize_q##SUF(size_t n, const T *x, int zp, float scale, float *y);                       \
    /* y = clamp(round(x / scale) + zp) (halves away from zero). */                                      \
    void one_quantize_q##SUF(size_t n, const float *x, float scale, int zp, T *y);                        \
    void one_pool_q##SUF(const one_pool_q_params *p, const T *x, T *y, int32_t *acc);                     \
    /* Mean over the dims whose acc_stride is 0: acc[o] = sum; y = clamp(rescale(acc - zp * count)). */ \
    void one_mean_q##SUF(int rank, const int *shape, const int *acc_stride, size_t n_out, int32_t count,  \
                         int in_zp, int32_t m, int shift, int out_zp, const T *x, T *y, int32_t *acc);

ONE_DECLARE_ELEMENTWISE_Q(s8, int8_t)
ONE_DECLARE_ELEMENTWISE_Q(u8, uint8_t)
ONE_DECLARE_ELEMENTWISE_Q(s16, int16_t)

/* y[i] = table[x[i]] over the unsigned bits of 8- or 16-bit inputs. */
void one_lut_q8(size_t n, const uint8_t *x, const uint8_t *table, uint8_t *y);
void one_lut_q16(size_t n, const int16_t *x, const int16_t *table, int16_t *y);

/* reference_ops::Softmax for 8-bit data (`rows` rows of n): exp_q0 / exp_accum indexed by
   max - x (precomputed, 0 beyond the input radius); signed: int8 (else uint8). */
void one_softmax_q8(size_t rows, int n, int is_signed, const int32_t *exp_q0, const int32_t *exp_accum,
                    const void *x, void *y);
/* reference_ops::SoftmaxInt16 with its 513-point exp and 1 / (1 + x) tables. */
void one_softmax_q16(size_t rows, int n, int32_t m, int shift, const int16_t *exp_lut, const int16_t *recip_lut,
                     const int16_t *x, int16_t *y);

#endif
