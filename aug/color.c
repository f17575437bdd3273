/*
 * aug/color.c — brightness, contrast, saturation, hue, grayscale, normalise, on float CHW images
 * in [0, 1], as torchvision's functional transforms on tensors. Formulas: aug/color.h.
 */
#include "color.h"

#include <math.h>

static float clamp01(float x)
{
    return x < 0.0f ? 0.0f : x > 1.0f ? 1.0f : x;
}

static float gray_of(float r, float g, float b)
{
    return AUG_GRAY_R * r + AUG_GRAY_G * g + AUG_GRAY_B * b;
}

void aug_brightness(float *image, size_t channels, size_t height, size_t width, float factor)
{
    const size_t count = channels * height * width;
    size_t i;
    for (i = 0; i < count; i++)
        image[i] = clamp01(factor * image[i]);
}

void aug_contrast(float *image, size_t channels, size_t height, size_t width, float factor)
{
    const size_t plane = height * width, count = channels * plane;
    double sum = 0.0;
    float mean;
    size_t i;
    if (channels == 3)
        for (i = 0; i < plane; i++)
            sum += gray_of(image[i], image[plane + i], image[2 * plane + i]);
    else
        for (i = 0; i < count; i++)
            sum += image[i];
    mean = (float)(sum / (double)(channels == 3 ? plane : count));
    for (i = 0; i < count; i++)
        image[i] = clamp01(factor * image[i] + (1.0f - factor) * mean);
}

void aug_saturation(float *image, size_t channels, size_t height, size_t width, float factor)
{
    const size_t plane = height * width;
    size_t i, c;
    if (channels != 3)
        return;
    for (i = 0; i < plane; i++) {
        const float gray = gray_of(image[i], image[plane + i], image[2 * plane + i]);
        for (c = 0; c < 3; c++)
            image[c * plane + i] = clamp01(factor * image[c * plane + i] + (1.0f - factor) * gray);
    }
}

void aug_rgb_to_hsv(float r, float g, float b, float *h, float *s, float *v)
{
    const float maximum = r > g ? (r > b ? r : b) : (g > b ? g : b);
    const float minimum = r < g ? (r < b ? r : b) : (g < b ? g : b);
    const float chroma = maximum - minimum;
    /* torchvision: divide by 1 instead of 0 where max == min (the hue is then 0 anyway) */
    const float divisor = chroma == 0.0f ? 1.0f : chroma;
    const float rc = (maximum - r) / divisor, gc = (maximum - g) / divisor;
    const float bc = (maximum - b) / divisor;
    float hue;
    *v = maximum;
    *s = chroma / (maximum == 0.0f ? 1.0f : maximum); /* torchvision: eqc ? 0 : cr / max */
    if (chroma == 0.0f)
        *s = 0.0f;
    if (r == maximum)
        hue = bc - gc;
    else if (g == maximum)
        hue = 2.0f + rc - bc;
    else
        hue = 4.0f + gc - rc;
    hue = fmodf(hue / 6.0f + 1.0f, 1.0f);
    *h = hue;
}

void aug_hsv_to_rgb(float h, float s, float v, float *r, float *g, float *b)
{
    const float scaled = h * 6.0f, sector = floorf(scaled), f = scaled - sector;
    const int i = ((int)sector % 6 + 6) % 6;
    const float p = clamp01(v * (1.0f - s)), q = clamp01(v * (1.0f - s * f));
    const float t = clamp01(v * (1.0f - s * (1.0f - f)));
    switch (i) {
    case 0: *r = v, *g = t, *b = p; break;
    case 1: *r = q, *g = v, *b = p; break;
    case 2: *r = p, *g = v, *b = t; break;
    case 3: *r = p, *g = q, *b = v; break;
    case 4: *r = t, *g = p, *b = v; break;
    default: *r = v, *g = p, *b = q; break;
    }
}

void aug_hue(float *image, size_t channels, size_t height, size_t width, float shift)
{
    const size_t plane = height * width;
    size_t i;
    if (channels != 3)
        return;
    for (i = 0; i < plane; i++) {
        float h, s, v, shifted;
        aug_rgb_to_hsv(image[i], image[plane + i], image[2 * plane + i], &h, &s, &v);
        shifted = h + shift;
        shifted -= floorf(shifted); /* frac, as torch's (h + shift) % 1.0 */
        aug_hsv_to_rgb(shifted, s, v, &image[i], &image[plane + i], &image[2 * plane + i]);
    }
}

void aug_grayscale(float *image, size_t channels, size_t height, size_t width)
{
    const size_t plane = height * width;
    size_t i;
    if (channels != 3)
        return;
    for (i = 0; i < plane; i++) {
        const float gray = gray_of(image[i], image[plane + i], image[2 * plane + i]);
        image[i] = image[plane + i] = image[2 * plane + i] = gray;
    }
}

void aug_normalize(float *image, size_t channels, size_t height, size_t width, const float *mean,
                   const float *std)
{
    const size_t plane = height * width;
    size_t c, i;
    for (c = 0; c < channels; c++)
        for (i = 0; i < plane; i++)
            image[c * plane + i] = (image[c * plane + i] - mean[c]) / std[c];
}
