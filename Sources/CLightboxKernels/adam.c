#include "lightbox_kernels.h"
#include <math.h>

// Cloned per instruction set and picked at load time (ifunc): the binary stays portable
// (-ffp-contract=off keeps every clone rounding alike, so a seed gives the same model everywhere)
// while Zen 4 gets AVX-512. Swift's own SIMD types lowered the square root to a libm call
// per lane here (measured: a quarter of a warm `lightbox train`).
__attribute__((target_clones("avx512f", "avx2", "default")))
void lightbox_adam_step(float *restrict p, const float *restrict g, float *restrict m, float *restrict v, size_t n,
                        float rate, float b1, float b2, float eps) {
    const float c1 = 1.0f - b1, c2 = 1.0f - b2;
    for (size_t i = 0; i < n; i++) {
        float gi = g[i];
        float mi = b1 * m[i] + c1 * gi;
        float vi = b2 * v[i] + c2 * gi * gi;
        m[i] = mi;
        v[i] = vi;
        p[i] -= rate * mi / (sqrtf(vi) + eps);
    }
}

// torch.optim.AdamW's update, in torch's order: decay first, then Adam with epsilon added
// after the bias-corrected square root.
__attribute__((target_clones("avx512f", "avx2", "default")))
void lightbox_adamw_step(float *restrict p, const float *restrict g, float *restrict m, float *restrict v, size_t n,
                         float lr, float b1, float b2, float eps, float weight_decay,
                         float bias_correction1, float bias_correction2_sqrt) {
    const float c1 = 1.0f - b1, c2 = 1.0f - b2, decay = 1.0f - lr * weight_decay, step = lr / bias_correction1;
    for (size_t i = 0; i < n; i++) {
        float gi = g[i];
        float mi = b1 * m[i] + c1 * gi;
        float vi = b2 * v[i] + c2 * gi * gi;
        m[i] = mi;
        v[i] = vi;
        p[i] = p[i] * decay - step * mi / (sqrtf(vi) / bias_correction2_sqrt + eps);
    }
}
