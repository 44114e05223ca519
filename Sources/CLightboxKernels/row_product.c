#include "lightbox_kernels.h"
#include <math.h>

// Each (row, output) sum in one fixed order, whatever the batch: 16 fused multiply-add lanes over
// the inputs, the lanes added in order, then the tail, then the bias. Exactly what RowProduct's
// Swift loop did, whose SIMD16 addProduct became a libm fmaf call per lane (measured with perf:
// head training 5x slower once its steps used it). The clones are x86-64 levels, not single
// features: an "avx2" clone has no FMA and would call fmaf per lane too. v4 and v3 fuse in
// registers, the baseline calls fmaf; all give the same bits.
__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
void lightbox_row_product(const float *restrict x, size_t rows, size_t inputs, const float *restrict w,
                          const float *restrict bias, size_t outputs, float *restrict z) {
    const size_t whole = inputs / 16 * 16;
    for (size_t r = 0; r < rows; r++) {
        const float *row = x + r * inputs;
        for (size_t c = 0; c < outputs; c++) {
            const float *column = w + c * inputs;
            float lanes[16] = {0};
            for (size_t i = 0; i < whole; i += 16) {
                for (int l = 0; l < 16; l++) lanes[l] = fmaf(row[i + l], column[i + l], lanes[l]);
            }
            float total = 0;
            for (int l = 0; l < 16; l++) total += lanes[l];
            for (size_t i = whole; i < inputs; i++) total += row[i] * column[i];
            z[r * outputs + c] = total + (bias ? bias[c] : 0.0f);
        }
    }
}
