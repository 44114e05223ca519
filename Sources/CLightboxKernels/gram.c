#include "lightbox_kernels.h"

// The Gram matrix of n rows of p floats, in double: g[i * n + j] = sum_k x[i, k] x[j, k], each
// sum in one fixed order (k ascending, four partial sums), so a fit gives the same numbers
// however it is built. The lung locator's ridge regression solves in this n x n space (n
// pictures, p = 62,720 feature-map values), which is why this is here and not in Swift: a
// debug build's loops would take minutes.

#define CLONES __attribute__((target_clones("avx512f", "avx2", "default")))

static inline double dot(const float *restrict a, const float *restrict b, size_t p) {
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    size_t k = 0;
    for (; k + 4 <= p; k += 4) {
        s0 += (double)a[k] * b[k];
        s1 += (double)a[k + 1] * b[k + 1];
        s2 += (double)a[k + 2] * b[k + 2];
        s3 += (double)a[k + 3] * b[k + 3];
    }
    for (; k < p; k++) s0 += (double)a[k] * b[k];
    return (s0 + s1) + (s2 + s3);
}

CLONES
void lightbox_gram_f64(const float *x, size_t n, size_t p, double *g) {
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j <= i; j++) {
            double s = dot(x + i * p, x + j * p, p);
            g[i * n + j] = s;
            g[j * n + i] = s;
        }
    }
}

CLONES
void lightbox_weighted_row_sum_f64(const float *x, size_t n, size_t p, const double *a, size_t m, double *out) {
    for (size_t k = 0; k < p * m; k++) out[k] = 0;
    for (size_t i = 0; i < n; i++) {
        const float *row = x + i * p;
        const double *ai = a + i * m;
        for (size_t k = 0; k < p; k++) {
            double v = row[k];
            for (size_t c = 0; c < m; c++) out[k * m + c] += v * ai[c];
        }
    }
}
