#include "lightbox_kernels.h"
#include <stdint.h>
#include <string.h>

// float32 -> bfloat16 with round-to-nearest-even, as oneDNN's reorders and torch's
// .to(torch.bfloat16) convert: add 0x7FFF plus the lowest kept bit, keep the top 16 bits.
// A NaN stays a (quiet) NaN instead of rounding into infinity. Both of Lightbox's bf16 paths
// round operands here, so the hardware products and their fp32 emulation see the same values.

static inline uint16_t to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40u);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

#define CLONES __attribute__((target_clones("avx512f", "avx2", "default")))

CLONES
void lightbox_f32_to_bf16(const float *restrict in, uint16_t *restrict out, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = to_bf16(in[i]);
}

CLONES
void lightbox_round_to_bf16(const float *restrict in, float *restrict out, size_t n) {
    for (size_t i = 0; i < n; i++) {
        uint32_t u = (uint32_t)to_bf16(in[i]) << 16;
        memcpy(out + i, &u, 4);
    }
}
