/*
 * aug/geometry.h — where a view comes from: torchvision's RandomResizedCrop sampling, the
 * antialiased bilinear resize, and flips.
 *
 * Images are float CHW. Shape legend: C channels, H × W the image, h × w a crop, S the side of
 * the square output.
 *
 * Crop sampling (torchvision RandomResizedCrop.get_params), with scale (s0, s1) and aspect ratio
 * (r0, r1), drawing from the view's stream in exactly this order:
 *     area = H·W; lo = log r0; hi = log r1
 *     up to 10 times: target = area·uniform(s0, s1); aspect = exp(uniform(lo, hi))
 *                     w = rint(sqrt(target·aspect)); h = rint(sqrt(target/aspect))
 *                     (rint rounds half to even, as Python's round)
 *                     if 0 < w <= W and 0 < h <= H:
 *                         top = randint(0, H − h + 1); left = randint(0, W − w + 1); done
 *     otherwise the centre crop of the fallback: in_ratio = W/H;
 *         in_ratio < r0: w = W, h = rint(w / r0);  in_ratio > r1: h = H, w = rint(h·r1);
 *         else w = W, h = H;  top = (H − h)/2, left = (W − w)/2 (integer division)
 *     uniform(a, b) is the generator's a + (b − a)·uniform() (nn/rng.h); the arithmetic around it
 *     is double.
 *
 * Resize (torchvision resize(antialias=True), bilinear, align_corners=False; the PIL algorithm),
 * separable, rows first then columns, for an axis of n_in → n_out:
 *     scale = n_in/n_out, support = max(scale, 1), centre = (x + 0.5)·scale
 *     xmin = max(int(centre − support + 0.5), 0), xmax = min(int(centre + support + 0.5), n_in)
 *     w(j) = max(0, 1 − |(j + xmin − centre + 0.5)/max(scale, 1)|), normalised to sum 1
 *     out(x) = Σ_j w(j)·in(xmin + j)
 *
 * Flips: horizontal reverses every row, vertical every column.
 */
#ifndef SIMCLR_AUG_GEOMETRY_H
#define SIMCLR_AUG_GEOMETRY_H

#include <stddef.h>

#include "../nn/rng.h"

typedef struct aug_crop {
    size_t top, left, height, width;
} aug_crop;

/* The crop window, drawn as above from `random`. */
aug_crop aug_sample_resized_crop(rng *random, size_t height, size_t width, double min_scale,
                                 double max_scale, double min_ratio, double max_ratio);

/* Floats of workspace aug_resize needs: C · in_height · out_width. */
size_t aug_resize_workspace_floats(size_t channels, size_t in_height, size_t out_width);

/* out = resize of the window (top, left, in_height, in_width) of image to out_height × out_width.
 * The whole image is the window (0, 0, H, W). */
void aug_resize(float *out,         /* (C, out_height, out_width) */
                const float *image, /* (C, H, W) */
                size_t channels, size_t height, size_t width, aug_crop window,
                size_t out_height, size_t out_width,
                float *workspace);  /* aug_resize_workspace_floats */

/* torchvision's ImageNet evaluation transform, Resize(⌊S/0.875⌋) then CenterCrop(S): the shorter
 * side resized to ⌊S/0.875⌋ (256 for 224) and the longer to ⌊⌊S/0.875⌋ · longer/shorter⌋, then
 * the centre S × S, top = round((H' − S)/2) and left = round((W' − S)/2) (halves to even, as
 * Python's round). Only the kept pixels are computed, each exactly as in the whole resize. */
void aug_center_view_size(size_t height, size_t width, size_t size, size_t *resized_height,
                          size_t *resized_width);
/* Floats of workspace aug_center_view needs: C · S · the input rows the kept rows read (about
 * S·H/H' + 2, so a very tall image needs little). At most aug_resize_workspace_floats(C, H, S). */
size_t aug_center_view_workspace_floats(size_t channels, size_t height, size_t width,
                                        size_t size);
void aug_center_view(float *out,         /* (C, S, S) */
                     const float *image, /* (C, H, W) */
                     size_t channels, size_t height, size_t width, size_t size,
                     float *workspace);  /* aug_center_view_workspace_floats(C, H, W, S) */

void aug_hflip(float *image, /* (C, H, W), in place */
               size_t channels, size_t height, size_t width);
void aug_vflip(float *image, /* (C, H, W), in place */
               size_t channels, size_t height, size_t width);

#endif
