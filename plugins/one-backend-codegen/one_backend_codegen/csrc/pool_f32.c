/* pool_f32.c: float32 pooling and bilinear resizing on NHWC tensors (one codegen).

   Every output pixel accumulates the window's input pixels as rows of channels, so the inner
   loops run over contiguous channels. */
#include "pool_f32.h"

static void one_pool_f32(const one_pool_f32_params *p, const float *ONE_RESTRICT x, float *ONE_RESTRICT y,
                         int is_max)
{
    const int c = p->c;
    int b, oy, ox, iy, ix, ch;
    for (b = 0; b < p->batch; b++) {
        for (oy = 0; oy < p->out_h; oy++) {
            const int y0 = oy * p->stride_h - p->pad_top;
            const int ys = one_max_i(y0, 0), ye = one_min_i(y0 + p->k_h, p->in_h);
            for (ox = 0; ox < p->out_w; ox++) {
                const int x0 = ox * p->stride_w - p->pad_left;
                const int xs = one_max_i(x0, 0), xe = one_min_i(x0 + p->k_w, p->in_w);
                float *ONE_RESTRICT out = y + (((size_t)b * p->out_h + oy) * p->out_w + ox) * c;
                for (ch = 0; ch < c; ch++) out[ch] = is_max ? -INFINITY : 0.0f;
                for (iy = ys; iy < ye; iy++) {
                    const float *ONE_RESTRICT in = x + (((size_t)b * p->in_h + iy) * p->in_w + xs) * c;
                    for (ix = xs; ix < xe; ix++, in += c) {
                        if (is_max) {
                            for (ch = 0; ch < c; ch++) out[ch] = in[ch] > out[ch] ? in[ch] : out[ch];
                        } else {
                            for (ch = 0; ch < c; ch++) out[ch] += in[ch];
                        }
                    }
                }
                if (is_max) {
                    for (ch = 0; ch < c; ch++) out[ch] = one_clamp_f(out[ch], p->act_min, p->act_max);
                } else {
                    const float count = (float)((ye - ys) * (xe - xs));
                    for (ch = 0; ch < c; ch++) out[ch] = one_clamp_f(out[ch] / count, p->act_min, p->act_max);
                }
            }
        }
    }
}

void one_average_pool_f32(const one_pool_f32_params *p, const float *x, float *y) { one_pool_f32(p, x, y, 0); }

void one_max_pool_f32(const one_pool_f32_params *p, const float *x, float *y) { one_pool_f32(p, x, y, 1); }

void one_resize_bilinear_f32(int batch, int in_h, int in_w, int c, int out_h, int out_w, const int *iy,
                             const float *wy, const int *ix, const float *wx, const float *ONE_RESTRICT x,
                             float *ONE_RESTRICT y)
{
    int b, oy, ox, r, ch;
    for (b = 0; b < batch; b++) {
        const float *img = x + (size_t)b * in_h * in_w * c;
        for (oy = 0; oy < out_h; oy++) {
            for (ox = 0; ox < out_w; ox++, y += c) {
                for (ch = 0; ch < c; ch++) y[ch] = 0.0f;
                for (r = 0; r < 2; r++) {
                    const float *row = img + (size_t)iy[2 * oy + r] * in_w * c;
                    const float *ONE_RESTRICT p0 = row + (size_t)ix[2 * ox] * c;
                    const float *ONE_RESTRICT p1 = row + (size_t)ix[2 * ox + 1] * c;
                    const float w0 = wx[2 * ox], w1 = wx[2 * ox + 1], wr = wy[2 * oy + r];
                    for (ch = 0; ch < c; ch++) y[ch] += (p0[ch] * w0 + p1[ch] * w1) * wr;
                }
            }
        }
    }
}
