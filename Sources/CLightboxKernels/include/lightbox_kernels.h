#ifndef LIGHTBOX_KERNELS_H
#define LIGHTBOX_KERNELS_H
#include <stddef.h>
#include <stdint.h>

/// One Adam step over n parameters: m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
/// p -= rate * m / (sqrt(v) + eps). Vectorised for the CPU it runs on.
void lightbox_adam_step(float *p, const float *g, float *m, float *v, size_t n,
                        float rate, float b1, float b2, float eps);

/// One AdamW step as torch computes it: p *= 1 - lr wd; m, v as above;
/// p -= lr / bc1 * m / (sqrt(v) / sqrt(bc2) + eps), bc = 1 - b^t.
void lightbox_adamw_step(float *p, const float *g, float *m, float *v, size_t n,
                         float lr, float b1, float b2, float eps, float weight_decay,
                         float bias_correction1, float bias_correction2_sqrt);

/// z[r, c] = sum_i x[r, i] w[c, i] (+ bias[c] when bias is not NULL), each sum in one fixed
/// order (16 fused lanes, the lanes in order, the tail): independent of the batch (row_product.c).
void lightbox_row_product(const float *x, size_t rows, size_t inputs, const float *w, const float *bias, size_t outputs,
                          float *z);

/// Fine-tuning's loops on NHWC activations as [rows, channels] (training.c).
/// Per-channel sum and sum of squares over the rows, in double.
void lightbox_bn_statistics(const float *x, size_t rows, size_t channels, double *sum, double *squares);
/// out = (x - mean) * scale + beta, per channel.
void lightbox_bn_apply(const float *x, size_t rows, size_t channels, const float *mean, const float *scale,
                       const float *beta, float *out);
/// Training-mode batch norm's gradients: dx (overwritten), dgamma and dbeta (overwritten).
void lightbox_bn_backward(const float *dy, const float *x, size_t rows, size_t channels, const float *mean,
                          const float *inverse_std, const float *gamma, float *dx, float *dgamma, float *dbeta);
/// x = min(max(x, 0), 6).
void lightbox_relu6_forward(float *x, size_t n);
/// gradient = 0 where input is outside (0, 6).
void lightbox_relu6_backward(float *gradient, const float *input, size_t n);
/// x += y.
void lightbox_add(float *x, const float *y, size_t n);

/// bfloat16 conversions with round-to-nearest-even (bf16.c): to bf16 bits, and to the float32
/// value of the nearest bf16 (fp32 kernels on these compute what bf16 kernels compute).
void lightbox_f32_to_bf16(const float *in, uint16_t *out, size_t n);
void lightbox_round_to_bf16(const float *in, float *out, size_t n);


/// The Gram matrix of n rows of p floats in double, g[i * n + j] = sum_k x[i, k] x[j, k],
/// each sum in a fixed order (gram.c: the lung locator's ridge regression).
void lightbox_gram_f64(const float *x, size_t n, size_t p, double *g);
/// out[k, c] = sum_i x[i, k] a[i, c] for p values k and m columns c, in double (gram.c).
void lightbox_weighted_row_sum_f64(const float *x, size_t n, size_t p, const double *a, size_t m, double *out);

#endif
