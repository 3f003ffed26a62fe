/* elementwise_f32.h: float32 elementwise operators and softmax (one codegen). */
#ifndef ONE_ELEMENTWISE_F32_H
#define ONE_ELEMENTWISE_F32_H

#include "one_common.h"

/* Dimensions a broadcast loop nest may have (after merging compatible dimensions). */
#define ONE_EW_MAX_RANK 8

typedef enum {
    ONE_F32_ADD, ONE_F32_SUB, ONE_F32_MUL, ONE_F32_DIV, ONE_F32_MAXIMUM, ONE_F32_MINIMUM,
    ONE_F32_SQUARED_DIFFERENCE, ONE_F32_PRELU
} one_binary_f32_op;

typedef enum {
    ONE_F32_CLAMP, ONE_F32_LOGISTIC, ONE_F32_TANH, ONE_F32_HARD_SWISH, ONE_F32_LEAKY_RELU, ONE_F32_ELU,
    ONE_F32_EXP, ONE_F32_LOG, ONE_F32_SQRT, ONE_F32_RSQRT, ONE_F32_ABS, ONE_F32_NEG, ONE_F32_SQUARE,
    ONE_F32_GELU, ONE_F32_GELU_TANH
} one_unary_f32_op;

/* y = clamp(a op b, lo, hi) over `rank` dimensions of sizes `shape` (y contiguous). Strides are
   in elements, 0 where an operand is broadcast; the last dimension's strides are 0 or 1.
   y may be a or b (same shape). */
void one_binary_f32(one_binary_f32_op op, int rank, const int *shape, const int *a_stride, const int *b_stride,
                    const float *a, const float *b, float *y, float lo, float hi);
/* y[i] = f(x[i]); p0, p1: the clamp's bounds, or LEAKY_RELU's alpha. y may be x. */
void one_unary_f32(one_unary_f32_op op, size_t n, const float *x, float *y, float p0, float p1);
/* Softmax of `rows` rows of n values: exp(beta * (x - max)) / sum. y may be x. */
void one_softmax_f32(size_t rows, int n, float beta, const float *x, float *y);

#endif
