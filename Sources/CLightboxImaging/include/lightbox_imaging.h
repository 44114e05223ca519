#ifndef LIGHTBOX_IMAGING_H
#define LIGHTBOX_IMAGING_H
#include <stddef.h>
#include <stdint.h>

/// Fine-tuning's augmentation of an 8-bit RGB picture [height, width, 3] (augment.c): output
/// pixel (x, y) samples the source bilinearly, black outside, at sx = cos_a ox + sin_a oy + cx,
/// sy = -sin_a ox + cos_a oy + cy, where ox = x - cx - shift_x, oy = y - cy - shift_y and
/// (cx, cy) is the centre; then v = clip((v / 255 - mean) contrast + mean + brightness, 0, 1) 255
/// (mean: the warped picture's, in 0..1 units), and out = v scale[c] + shift[c].
void lightbox_augment(const uint8_t *src, size_t width, size_t height, double cos_a, double sin_a, double shift_x,
                      double shift_y, float contrast, float brightness, const float *scale, const float *shift,
                      float *out);


#endif
