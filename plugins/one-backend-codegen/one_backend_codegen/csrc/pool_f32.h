/* pool_f32.h: float32 pooling and bilinear resizing on NHWC tensors (one codegen). */
#ifndef ONE_POOL_F32_H
#define ONE_POOL_F32_H

#include "one_common.h"

typedef struct {
    int batch, in_h, in_w, c, out_h, out_w;
    int k_h, k_w, stride_h, stride_w, pad_top, pad_left;
    float act_min, act_max;
} one_pool_f32_params;

/* Averages divide by the number of window taps inside the input (padding is never counted). */
void one_average_pool_f32(const one_pool_f32_params *p, const float *x, float *y);
void one_max_pool_f32(const one_pool_f32_params *p, const float *x, float *y);

/* y[b][oy][ox] = sum over the two rows iy[2 oy + r] (weights wy[2 oy + r]) of the two columns
   ix[2 ox + s] (weights wx[2 ox + s]), columns first. */
void one_resize_bilinear_f32(int batch, int in_h, int in_w, int c, int out_h, int out_w, const int *iy,
                             const float *wy, const int *ix, const float *wx, const float *x, float *y);

#endif
