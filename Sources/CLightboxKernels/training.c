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

static inline size_t depthwise_out(size_t side, size_t stride) { return (side + 2 - 3) / stride + 1; }

CLONES
void lightbox_depthwise_forward(const float *restrict x, size_t batch, size_t side, size_t channels, size_t stride,
                                const float *restrict weights, float *restrict output) {
    const size_t out = depthwise_out(side, stride);
    for (size_t i = 0; i < batch * out * out * channels; i++) output[i] = 0;
    for (size_t n = 0; n < batch; n++)
        for (size_t oy = 0; oy < out; oy++)
            for (size_t ox = 0; ox < out; ox++) {
                float *o = output + ((n * out + oy) * out + ox) * channels;
                for (int ky = 0; ky < 3; ky++) {
                    long iy = (long)(oy * stride) + ky - 1;
                    if (iy < 0 || iy >= (long)side) continue;
                    for (int kx = 0; kx < 3; kx++) {
                        long ix = (long)(ox * stride) + kx - 1;
                        if (ix < 0 || ix >= (long)side) continue;
                        const float *i = x + ((n * side + (size_t)iy) * side + (size_t)ix) * channels;
                        const float *w = weights + (size_t)(ky * 3 + kx) * channels;
                        for (size_t c = 0; c < channels; c++) o[c] += i[c] * w[c];
                    }
                }
            }
}

// Sixteen floats, loaded and stored unaligned: lets the sums below live in registers
// (as plain arrays, the compilers kept them on the stack, a store and reload per step).
typedef float floats16 __attribute__((vector_size(64), aligned(4)));

// dx at one input position for channels c0 ..< c0 + 16 * VECTORS: the sum over the output
// positions that read it (oy * stride + ky - 1 = iy for a tap ky in 0..2), ascending, as a
// scatter over the output positions would add them. Position by position, all channels: dx is
// written once, in whole rows.
static inline __attribute__((always_inline))
void depthwise_dx_block(const float *restrict dy, const float *restrict weights, size_t n, size_t iy, size_t ix,
                        size_t out, size_t channels, size_t stride, size_t c0, int vectors, float *restrict d) {
    floats16 sum[4] = {{0}};
    const size_t y_first = iy == 0 ? 0 : (iy - 1 + stride - 1) / stride, y_last = (iy + 1) / stride;
    const size_t x_first = ix == 0 ? 0 : (ix - 1 + stride - 1) / stride, x_last = (ix + 1) / stride;
    for (size_t oy = y_first; oy <= y_last && oy < out; oy++) {
        const size_t ky = iy + 1 - oy * stride;
        for (size_t ox = x_first; ox <= x_last && ox < out; ox++) {
            const size_t kx = ix + 1 - ox * stride;
            const float *g = dy + ((n * out + oy) * out + ox) * channels + c0, *w = weights + (ky * 3 + kx) * channels + c0;
            for (int v = 0; v < vectors; v++) sum[v] += *(const floats16 *)(g + 16 * v) * *(const floats16 *)(w + 16 * v);
        }
    }
    for (int v = 0; v < vectors; v++) *(floats16 *)(d + 16 * v) = sum[v];
}

// Adds image n's part of dw, all nine taps, for channels c0 ..< c0 + 16 * VECTORS (VECTORS
// <= 2: 18 sums in registers): each output position's gradient is loaded once and multiplied
// with its nine neighbours. One image at a time keeps its rows in L2 across the channel blocks;
// every tap's sum still runs over the output positions in order.
static inline __attribute__((always_inline))
void depthwise_dw_block(const float *restrict dy, const float *restrict x, size_t n, size_t side, size_t out,
                        size_t channels, size_t stride, size_t c0, int vectors, float *restrict dw) {
    floats16 sum[9][2];
    for (int t = 0; t < 9; t++)
        for (int v = 0; v < vectors; v++) sum[t][v] = *(const floats16 *)(dw + (size_t)t * channels + c0 + 16 * v);
    for (size_t oy = 0; oy < out; oy++)
        for (size_t ox = 0; ox < out; ox++) {
            const float *g = dy + ((n * out + oy) * out + ox) * channels + c0;
            floats16 gv[2];
            for (int v = 0; v < vectors; v++) gv[v] = *(const floats16 *)(g + 16 * v);
            for (int ky = 0; ky < 3; ky++) {
                const long iy = (long)(oy * stride) + ky - 1;
                if (iy < 0 || iy >= (long)side) continue;
                for (int kx = 0; kx < 3; kx++) {
                    const long ix = (long)(ox * stride) + kx - 1;
                    if (ix < 0 || ix >= (long)side) continue;
                    const float *i = x + ((n * side + (size_t)iy) * side + (size_t)ix) * channels + c0;
                    for (int v = 0; v < vectors; v++) sum[ky * 3 + kx][v] += gv[v] * *(const floats16 *)(i + 16 * v);
                }
            }
        }
    for (int t = 0; t < 9; t++)
        for (int v = 0; v < vectors; v++) *(floats16 *)(dw + (size_t)t * channels + c0 + 16 * v) = sum[t][v];
}

// The two gradients in separate loop nests, each summing in the order of the output positions
// (as the earlier single scatter pass did, so the results are the same bits): dx gathered once
// per input position, dw summed per tap; both over blocks of 64 channels held in registers.
// The scatter pass re-read and re-wrote dx nine times and kept 9 x channels weight sums live,
// more than L1 holds. Measured against oneDNN's primitives in bench/kernels_vs_onednn.c.
CLONES
void lightbox_depthwise_backward(const float *restrict dy, const float *restrict x, size_t batch, size_t side,
                                 size_t channels, size_t stride, const float *restrict weights,
                                 float *restrict dx, float *restrict dw) {
    const size_t out = depthwise_out(side, stride);
    const size_t narrow = channels / 16 * 16;
    const size_t wide = channels / 64 * 64, pairs = channels / 32 * 32;
    for (size_t n = 0; n < batch; n++)
        for (size_t iy = 0; iy < side; iy++)
            for (size_t ix = 0; ix < side; ix++) {
                float *d = dx + ((n * side + iy) * side + ix) * channels;
                size_t c = 0;
                for (; c < wide; c += 64) depthwise_dx_block(dy, weights, n, iy, ix, out, channels, stride, c, 4, d + c);
                for (; c < narrow; c += 16) depthwise_dx_block(dy, weights, n, iy, ix, out, channels, stride, c, 1, d + c);
                for (; c < channels; c++) {
                    float sum = 0;
                    const size_t y_first = iy == 0 ? 0 : (iy - 1 + stride - 1) / stride, y_last = (iy + 1) / stride;
                    const size_t x_first = ix == 0 ? 0 : (ix - 1 + stride - 1) / stride, x_last = (ix + 1) / stride;
                    for (size_t oy = y_first; oy <= y_last && oy < out; oy++)
                        for (size_t ox = x_first; ox <= x_last && ox < out; ox++)
                            sum += dy[((n * out + oy) * out + ox) * channels + c]
                                * weights[((iy + 1 - oy * stride) * 3 + (ix + 1 - ox * stride)) * channels + c];
                    d[c] = sum;
                }
            }
    for (size_t i = 0; i < 9 * channels; i++) dw[i] = 0;
    for (size_t n = 0; n < batch; n++) {
        size_t c = 0;
        for (; c < pairs; c += 32) depthwise_dw_block(dy, x, n, side, out, channels, stride, c, 2, dw);
        for (; c < narrow; c += 16) depthwise_dw_block(dy, x, n, side, out, channels, stride, c, 1, dw);
        for (; c < channels; c++)
            for (int ky = 0; ky < 3; ky++)
                for (int kx = 0; kx < 3; kx++) {
                    float sum = dw[(size_t)(ky * 3 + kx) * channels + c];
                    for (size_t oy = 0; oy < out; oy++) {
                        long iy = (long)(oy * stride) + ky - 1;
                        if (iy < 0 || iy >= (long)side) continue;
                        for (size_t ox = 0; ox < out; ox++) {
                            long ix = (long)(ox * stride) + kx - 1;
                            if (ix < 0 || ix >= (long)side) continue;
                            sum += dy[((n * out + oy) * out + ox) * channels + c]
                                * x[((n * side + (size_t)iy) * side + (size_t)ix) * channels + c];
                        }
                    }
                    dw[(size_t)(ky * 3 + kx) * channels + c] = sum;
                }
    }
}
