#ifndef LIGHTBOX_KERNELS_H
#define LIGHTBOX_KERNELS_H
#include <stddef.h>

/// One Adam step over n parameters: m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
/// p -= rate * m / (sqrt(v) + eps). Vectorised for the CPU it runs on.
void lightbox_adam_step(float *p, const float *g, float *m, float *v, size_t n,
                        float rate, float b1, float b2, float eps);

/// One AdamW step as torch computes it: p *= 1 - lr wd; m, v as above;
/// p -= lr / bc1 * m / (sqrt(v) / sqrt(bc2) + eps), bc = 1 - b^t.
void lightbox_adamw_step(float *p, const float *g, float *m, float *v, size_t n,
                         float lr, float b1, float b2, float eps, float weight_decay,
                         float bias_correction1, float bias_correction2_sqrt);

#endif
