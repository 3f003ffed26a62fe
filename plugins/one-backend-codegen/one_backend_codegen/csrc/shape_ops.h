/* shape_ops.h: operators that only move bytes, for elements of any size (one codegen):
   concatenation, padding, transposition, slicing, splitting, nearest-neighbour resizing. */
#ifndef ONE_SHAPE_OPS_H
#define ONE_SHAPE_OPS_H

#include "one_common.h"

#define ONE_COPY_MAX_RANK 8

/* Copies a box of `rank` dimensions of sizes `shape`: each point of the box is a contiguous run
   of `run` bytes, at src + sum(i_d * src_stride[d]) and dst + sum(i_d * dst_stride[d]) (strides
   in bytes). */
void one_copy_nd(int rank, const int *shape, const ptrdiff_t *src_stride, const ptrdiff_t *dst_stride, size_t run,
                 const void *src, void *dst);
/* dst[0..count) = the element of `size` bytes at value. */
void one_fill(void *dst, size_t count, const void *value, size_t size);
/* Nearest-neighbour resizing of NHWC images with `pixel` bytes per pixel:
   y[b][oy][ox] = x[b][iy[oy]][ix[ox]]. */
void one_resize_nearest(int batch, int in_h, int in_w, int out_h, int out_w, size_t pixel, const int *iy,
                        const int *ix, const void *x, void *y);

#endif
