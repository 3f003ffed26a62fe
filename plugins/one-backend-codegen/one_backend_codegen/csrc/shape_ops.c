/* shape_ops.c: operators that only move bytes (one codegen).

   Everything is a strided box copy whose innermost runs are contiguous bytes; runs of 1, 2, 4
   or 8 bytes (a transposition's single elements) are copied with fixed-size memcpy calls,
   which compilers turn into plain loads and stores. */
#include "shape_ops.h"

#include <string.h>

#define ONE_COPY_RUNS(SIZE)                                                               \
    for (i = 0; i < n; i++) memcpy(d + (ptrdiff_t)i * ds, s + (ptrdiff_t)i * ss, SIZE);     \
    break

/* n runs of `run` bytes, src and dst advancing by ss and ds bytes. */
static void one_copy_row(int n, size_t run, const unsigned char *ONE_RESTRICT s, ptrdiff_t ss,
                         unsigned char *ONE_RESTRICT d, ptrdiff_t ds)
{
    int i;
    if ((size_t)ss == run && (size_t)ds == run) {
        memcpy(d, s, run * (size_t)n);
        return;
    }
    switch (run) {
    case 1: ONE_COPY_RUNS(1);
    case 2: ONE_COPY_RUNS(2);
    case 4: ONE_COPY_RUNS(4);
    case 8: ONE_COPY_RUNS(8);
    default: ONE_COPY_RUNS(run);
    }
}

void one_copy_nd(int rank, const int *shape, const ptrdiff_t *src_stride, const ptrdiff_t *dst_stride, size_t run,
                 const void *src, void *dst)
{
    const unsigned char *s = (const unsigned char *)src;
    unsigned char *d = (unsigned char *)dst;
    int idx[ONE_COPY_MAX_RANK];
    size_t outer = 1, o;
    ptrdiff_t os = 0, od = 0;
    int k;
    if (rank == 0) {
        memcpy(d, s, run);
        return;
    }
    for (k = 0; k < rank - 1; k++) {
        idx[k] = 0;
        outer *= (size_t)shape[k];
    }
    for (o = 0; o < outer; o++) {
        one_copy_row(shape[rank - 1], run, s + os, src_stride[rank - 1], d + od, dst_stride[rank - 1]);
        for (k = rank - 2; k >= 0; k--) {
            os += src_stride[k];
            od += dst_stride[k];
            if (++idx[k] < shape[k]) break;
            os -= src_stride[k] * shape[k];
            od -= dst_stride[k] * shape[k];
            idx[k] = 0;
        }
    }
}

void one_fill(void *dst, size_t count, const void *value, size_t size)
{
    unsigned char *d = (unsigned char *)dst;
    size_t i, done;
    if (count == 0) return;
    memcpy(d, value, size);
    /* doubling copies of what is filled already */
    for (done = 1; done < count; done += i) {
        i = done < count - done ? done : count - done;
        memcpy(d + done * size, d, i * size);
    }
}

void one_resize_nearest(int batch, int in_h, int in_w, int out_h, int out_w, size_t pixel, const int *iy,
                        const int *ix, const void *x, void *y)
{
    const unsigned char *src = (const unsigned char *)x;
    unsigned char *dst = (unsigned char *)y;
    int b, oy, ox;
    for (b = 0; b < batch; b++) {
        for (oy = 0; oy < out_h; oy++) {
            const unsigned char *row = src + ((size_t)b * in_h + iy[oy]) * in_w * pixel;
            for (ox = 0; ox < out_w; ox++, dst += pixel) memcpy(dst, row + (size_t)ix[ox] * pixel, pixel);
        }
    }
}
