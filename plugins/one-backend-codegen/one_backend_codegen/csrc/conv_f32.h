/* conv_f32.h: float32 matrix products and convolutions (one codegen). */
#ifndef ONE_CONV_F32_H
#define ONE_CONV_F32_H

#include "one_common.h"

/* Columns of one packed weight panel: weights [K][N] are stored panel by panel, each panel
   K rows of ONE_NR floats (the last one zero-padded). */
#define ONE_NR 16

typedef struct {
    int batch, in_h, in_w, in_c, out_h, out_w, out_c;
    int k_h, k_w, stride_h, stride_w, dil_h, dil_w, pad_top, pad_left;
    int depth_multiplier;  /* depthwise only */
    int block_rows;        /* output pixels per im2col block (scratch: block_rows * k_h * k_w * in_c) */
    float act_min, act_max;
} one_conv_f32_params;

/* c[m][n] = clamp(sum_k a[m][k] * b[k][n] + bias[n]) with b packed in panels; bias may be NULL. */
void one_gemm_f32(int m, int n, int k, const float *a, int lda, const float *b_packed, const float *bias,
                  float *c, int ldc, float act_min, float act_max);
/* c[m][n] = a[m][k] times the weight panels, float (wf) or int8 (w8, widened block by block; the
   other pointer NULL): no bias, no clamp, one thread (callers share whole blocks of rows). */
void one_gemm_f32_block(int m, int n, int k, const float *a, const float *wf, const int8_t *w8, float *c);
/* NHWC input, weights packed as [k_h * k_w * in_c][out_c] panels. scratch may be NULL when the
   convolution is 1x1 with stride 1 and no padding. */
void one_conv2d_f32(const one_conv_f32_params *p, const float *in, const float *w_packed, const float *bias,
                    float *out, float *scratch);
/* NHWC input, weights [k_h][k_w][out_c] (TFLite's layout without its leading 1). */
void one_depthwise_conv2d_f32(const one_conv_f32_params *p, const float *in, const float *w, const float *bias,
                              float *out);

#endif
