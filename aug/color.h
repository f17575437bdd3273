/*
 * aug/color.h — the colour operations of SimCLR's augmentation (colour jitter, random grayscale,
 * normalisation), as
 * torchvision.transforms.functional computes them on float tensors.
 *
 * Images are float CHW in [0, 1] (C = 1 or 3; planes R, G, B). Every operation works in place,
 * clamps its result to [0, 1] where torchvision does, and leaves 1-channel images alone where a
 * colour operation has no meaning (saturation, hue, grayscale).
 *
 *   gray(x)      = 0.2989 R + 0.587 G + 0.114 B                      (rgb_to_grayscale)
 *   blend(a,b,r) = clamp(r·a + (1 − r)·b, 0, 1)                      (_blend)
 *   brightness   x ← clamp(b·x)                                       (adjust_brightness)
 *   contrast     x ← blend(x, mean over the image of gray(x), c)      (adjust_contrast; a
 *                1-channel image uses the mean of the image)
 *   saturation   x ← blend(x, gray(x), s)                             (adjust_saturation)
 *   hue          RGB → HSV, h ← frac(h + shift), HSV → RGB           (adjust_hue, shift in
 *                [−0.5, 0.5]; the conversions are torchvision's _rgb2hsv / _hsv2rgb, below)
 *   grayscale    every channel ← gray(x)                              (rgb_to_grayscale, 3 out)
 *   normalise    x ← (x − mean_c) / std_c                             (normalize)
 *
 * The image mean of contrast is accumulated in double (torchvision sums in float; the
 * difference is far below 1e-6 for images of any practical size).
 */
#ifndef SIMCLR_AUG_COLOR_H
#define SIMCLR_AUG_COLOR_H

#include <stddef.h>

/* The luma weights of torchvision's rgb_to_grayscale. */
#define AUG_GRAY_R 0.2989f
#define AUG_GRAY_G 0.587f
#define AUG_GRAY_B 0.114f

void aug_brightness(float *image, /* (C, H, W) */
                    size_t channels, size_t height, size_t width, float factor);

void aug_contrast(float *image, /* (C, H, W) */
                  size_t channels, size_t height, size_t width, float factor);

void aug_saturation(float *image, /* (C, H, W) */
                    size_t channels, size_t height, size_t width, float factor);

void aug_hue(float *image, /* (C, H, W) */
             size_t channels, size_t height, size_t width, float shift);

void aug_grayscale(float *image, /* (C, H, W) */
                   size_t channels, size_t height, size_t width);

/* (x − mean[c]) / std[c] per channel. */
void aug_normalize(float *image, /* (C, H, W) */
                   size_t channels, size_t height, size_t width, const float *mean,
                   const float *std);

/* One pixel's conversions, torchvision's _rgb2hsv / _hsv2rgb (exposed for tests and references):
 *   RGB → HSV: v = max, cr = max − min, s = cr / max (0 when max == min);
 *              rc, gc, bc = (max − R, max − G, max − B) / cr (cr taken as 1 when 0);
 *              h = (R == max)·(bc − gc) + (G == max, R != max)·(2 + rc − bc)
 *                  + (G != max, R != max)·(4 + gc − rc);  h = fmod(h/6 + 1, 1)
 *   HSV → RGB: i = floor(6h) mod 6, f = 6h − floor(6h); p = clamp(v(1 − s)),
 *              q = clamp(v(1 − s·f)), t = clamp(v(1 − s(1 − f)));
 *              i = 0..5 → (R, G, B) = (v,t,p) (q,v,p) (p,v,t) (p,q,v) (t,p,v) (v,p,q) */
void aug_rgb_to_hsv(float r, float g, float b, float *h, float *s, float *v);
void aug_hsv_to_rgb(float h, float s, float v, float *r, float *g, float *b);

#endif
