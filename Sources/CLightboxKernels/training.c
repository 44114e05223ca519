#include "lightbox_kernels.h"

// The loops of fine-tuning's trained modules that are not matrix products, on NHWC
// activations stored as [rows, channels]. Cloned per instruction set like the Adam kernels
// (Swift compiles for baseline x86-64, SSE2, and left the ReLU6 gradient a branch per element);
// -ffp-contract=off and the same order of operations as the torch-checked Swift versions keep
// the results bit-identical across clones. Every inner loop runs over channels, so the
// per-channel sums keep their row order.

#define CLONES __attribute__((target_clones("avx512f", "avx2", "default")))

CLONES
void lightbox_bn_statistics(const float *restrict x, size_t rows, size_t channels, double *restrict sum,
                            double *restrict squares) {
    for (size_t c = 0; c < channels; c++) { sum[c] = 0; squares[c] = 0; }
    for (size_t r = 0; r < rows; r++) {
        const float *row = x + r * channels;
        for (size_t c = 0; c < channels; c++) {
            double v = row[c];
            sum[c] += v;
            squares[c] += v * v;
        }
    }
}

CLONES
void lightbox_bn_apply(const float *restrict x, size_t rows, size_t channels, const float *restrict mean,
                       const float *restrict scale, const float *restrict beta, float *restrict out) {
    for (size_t r = 0; r < rows; r++) {
        const float *i = x + r * channels;
        float *o = out + r * channels;
        for (size_t c = 0; c < channels; c++) o[c] = (i[c] - mean[c]) * scale[c] + beta[c];
    }
}

CLONES
void lightbox_bn_backward(const float *restrict dy, const float *restrict x, size_t rows, size_t channels,
                          const float *restrict mean, const float *restrict inverse_std, const float *restrict gamma,
                          float *restrict dx, float *restrict dgamma, float *restrict dbeta) {
    for (size_t c = 0; c < channels; c++) { dgamma[c] = 0; dbeta[c] = 0; }
    for (size_t r = 0; r < rows; r++) {
        const float *g = dy + r * channels, *row = x + r * channels;
        for (size_t c = 0; c < channels; c++) {
            dbeta[c] += g[c];
            dgamma[c] += g[c] * (row[c] - mean[c]) * inverse_std[c];
        }
    }
    const float n = (float)rows;
    for (size_t r = 0; r < rows; r++) {
        const float *g = dy + r * channels, *row = x + r * channels;
        float *d = dx + r * channels;
        for (size_t c = 0; c < channels; c++) {
            float k = gamma[c] * inverse_std[c] / n;
            float xhat = (row[c] - mean[c]) * inverse_std[c];
            d[c] = k * (n * g[c] - dbeta[c] - xhat * dgamma[c]);
        }
    }
}

CLONES
void lightbox_relu6_forward(float *restrict x, size_t n) {
    for (size_t i = 0; i < n; i++) {
        float v = x[i] > 0 ? x[i] : 0;
        x[i] = v < 6 ? v : 6;
    }
}

CLONES
void lightbox_relu6_backward(float *restrict gradient, const float *restrict input, size_t n) {
    for (size_t i = 0; i < n; i++) gradient[i] = (input[i] > 0 && input[i] < 6) ? gradient[i] : 0;
}

CLONES
void lightbox_add(float *restrict x, const float *restrict y, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] += y[i];
}
