#include "lightbox_imaging.h"
#include <math.h>
#include <stdlib.h>

// Fine-tuning's augmentation, run for every training image in every epoch of every member.
// Written in Swift it took a twentieth of a training run (bounds checks and a closure per
// sample); here the interior of the picture, where all four neighbours exist, takes a
// branch-free path. The coordinates are computed in double exactly as the formula reads
// (-ffp-contract=off), so every clone gives the same bytes.

#define CLONES __attribute__((target_clones("avx512f", "avx2", "default")))

static inline float sample(const uint8_t *src, long width, long height, long x, long y, int c) {
    return (x < 0 || y < 0 || x >= width || y >= height) ? 0.0f : (float)src[(y * width + x) * 3 + c];
}

CLONES
void lightbox_augment(const uint8_t *restrict src, size_t width, size_t height, double cos_a, double sin_a, double shift_x,
                      double shift_y, float contrast, float brightness, const float *restrict scale,
                      const float *restrict shift, float *restrict out) {
    const long w = (long)width, h = (long)height;
    const double cx = (double)(w - 1) / 2, cy = (double)(h - 1) / 2;
    // Per output row: the source's top-left neighbour and the weights of every pixel, computed
    // in one vectorised loop, then the samples gathered.
    long *x0 = malloc(sizeof(long) * (size_t)w * 2);
    float *weights = malloc(sizeof(float) * (size_t)w * 2);
    if (!x0 || !weights) { free(x0); free(weights); abort(); }
    long *y0 = x0 + w;
    float *ax = weights, *ay = weights + w;
    double total = 0;
    for (long y = 0; y < h; y++) {
        const double oy = (double)y - cy - shift_y;
        for (long x = 0; x < w; x++) {
            // Inverse mapping: where in the source this output pixel comes from.
            const double ox = (double)x - cx - shift_x;
            const double sx = cos_a * ox + sin_a * oy + cx, sy = -sin_a * ox + cos_a * oy + cy;
            // Clamped first (NaN to -2): a point off the picture keeps an index that says so.
            const double fx = floor(fmax(fmin(sx, (double)w), -2.0)), fy = floor(fmax(fmin(sy, (double)h), -2.0));
            x0[x] = (long)fx;
            y0[x] = (long)fy;
            ax[x] = (float)(sx - fx);
            ay[x] = (float)(sy - fy);
        }
        float row_total = 0;  // a row's sum in float (at most 224 * 3 * 255), the picture's in double
        for (long x = 0; x < w; x++) {
            float *o = out + (y * w + x) * 3;
            const long i = x0[x], j = y0[x];
            const float a = ax[x], b = ay[x];
            if (i >= 0 && j >= 0 && i + 1 < w && j + 1 < h) {
                const uint8_t *p = src + (j * w + i) * 3, *q = p + w * 3;
                for (int c = 0; c < 3; c++) {
                    float top = (float)p[c] * (1 - a) + (float)p[c + 3] * a;
                    float bottom = (float)q[c] * (1 - a) + (float)q[c + 3] * a;
                    o[c] = top * (1 - b) + bottom * b;
                }
            } else if (i < -1 || j < -1 || i >= w || j >= h) {  // all four neighbours outside: black
                o[0] = o[1] = o[2] = 0;
            } else {
                for (int c = 0; c < 3; c++) {
                    float top = sample(src, w, h, i, j, c) * (1 - a) + sample(src, w, h, i + 1, j, c) * a;
                    float bottom = sample(src, w, h, i, j + 1, c) * (1 - a) + sample(src, w, h, i + 1, j + 1, c) * a;
                    o[c] = top * (1 - b) + bottom * b;
                }
            }
            row_total += o[0] + o[1] + o[2];
        }
        total += row_total;
    }
    free(x0);
    free(weights);
    // Intensity in 0..1 units: contrast about the picture's mean, then brightness, clipped;
    // then the network's normalisation.
    const size_t n = width * height * 3;
    const float mean = n == 0 ? 0 : (float)(total / (double)n / 255);
    // v / 255 * contrast + (mean (1 - contrast) + brightness), clipped to 0..1, then scaled:
    // one multiply-add, a clip and another multiply-add per sample.
    const float gain = contrast / 255, offset = mean * (1 - contrast) + brightness;
    const float k[3] = {255 * scale[0], 255 * scale[1], 255 * scale[2]};
    for (size_t i = 0; i < n; i += 3)
        for (int c = 0; c < 3; c++) {
            float v = out[i + c] * gain + offset;
            v = v < 0 ? 0 : (v > 1 ? 1 : v);
            out[i + c] = v * k[c] + shift[c];
        }
}
