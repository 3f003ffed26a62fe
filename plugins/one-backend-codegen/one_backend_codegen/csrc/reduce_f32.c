/* reduce_f32.c: float32 reductions (one codegen).

   The input is read once, in memory order, as rows of its last (merged) dimension. When that
   dimension is kept, a row accumulates element by element into a row of outputs (e.g. MEAN over
   the height and width of NHWC adds rows of channels); when it is reduced, the row is reduced
   with eight partial accumulators (vectorizable) into one output. */
#include "reduce_f32.h"

#define ONE_LANES 8

static float one_row_sum(const float *ONE_RESTRICT x, int n)
{
    float acc[ONE_LANES] = {0};
    float s = 0.0f;
    int i = 0, j;
    for (; i + ONE_LANES <= n; i += ONE_LANES)
        for (j = 0; j < ONE_LANES; j++) acc[j] += x[i + j];
    for (; i < n; i++) acc[0] += x[i];
    for (j = 0; j < ONE_LANES; j++) s += acc[j];
    return s;
}

static float one_row_max(const float *ONE_RESTRICT x, int n)
{
    float acc[ONE_LANES];
    float m;
    int i = 0, j;
    for (j = 0; j < ONE_LANES; j++) acc[j] = -INFINITY;
    for (; i + ONE_LANES <= n; i += ONE_LANES)
        for (j = 0; j < ONE_LANES; j++) acc[j] = x[i + j] > acc[j] ? x[i + j] : acc[j];
    for (; i < n; i++) acc[0] = x[i] > acc[0] ? x[i] : acc[0];
    m = acc[0];
    for (j = 1; j < ONE_LANES; j++) m = acc[j] > m ? acc[j] : m;
    return m;
}

void one_reduce_f32(one_reduce_f32_op op, int rank, const int *shape, const int *out_stride, const float *x,
                    float *y, size_t out_size, int count)
{
    const int is_max = op == ONE_F32_REDUCE_MAX;
    const int n = shape[rank - 1], kept = out_stride[rank - 1] != 0;
    int idx[ONE_REDUCE_MAX_RANK];
    size_t outer = 1, o, i;
    ptrdiff_t oy = 0;
    int d, j;
    for (i = 0; i < out_size; i++) y[i] = is_max ? -INFINITY : 0.0f;
    for (d = 0; d < rank - 1; d++) {
        idx[d] = 0;
        outer *= (size_t)shape[d];
    }
    for (o = 0; o < outer; o++, x += n) {
        float *ONE_RESTRICT yr = y + oy;
        const float *ONE_RESTRICT xr = x;
        if (kept && is_max) {
            for (j = 0; j < n; j++) yr[j] = xr[j] > yr[j] ? xr[j] : yr[j];
        } else if (kept) {
            for (j = 0; j < n; j++) yr[j] += xr[j];
        } else if (is_max) {
            const float m = one_row_max(xr, n);
            yr[0] = m > yr[0] ? m : yr[0];
        } else {
            yr[0] += one_row_sum(xr, n);
        }
        for (d = rank - 2; d >= 0; d--) {
            oy += out_stride[d];
            if (++idx[d] < shape[d]) break;
            oy -= (ptrdiff_t)out_stride[d] * shape[d];
            idx[d] = 0;
        }
    }
    if (op == ONE_F32_REDUCE_MEAN) {
        const float c = (float)count;
        for (i = 0; i < out_size; i++) y[i] /= c;
    }
}
