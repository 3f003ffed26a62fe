/* reduce_f32.h: float32 reductions MEAN, SUM, REDUCE_MAX (one codegen). */
#ifndef ONE_REDUCE_F32_H
#define ONE_REDUCE_F32_H

#include "one_common.h"

#define ONE_REDUCE_MAX_RANK 8

typedef enum { ONE_F32_REDUCE_SUM, ONE_F32_REDUCE_MEAN, ONE_F32_REDUCE_MAX } one_reduce_f32_op;

/* Reduces the contiguous x of `rank` dimensions of sizes `shape` into y (out_size values):
   out_stride (in elements of y) is 0 along reduced dimensions; the last one is 0 or 1. MEAN
   divides the sums by `count`, the number of values reduced into each output. */
void one_reduce_f32(one_reduce_f32_op op, int rank, const int *shape, const int *out_stride, const float *x,
                    float *y, size_t out_size, int count);

#endif
