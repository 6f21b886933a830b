#include "NativeDense.h"
#include <cstddef>

namespace VAEPlugin {

#if defined(__x86_64__) && defined(__GNUC__) && defined(__has_attribute)
#if __has_attribute(target_clones)
#define VAE_DENSE_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#endif
#endif
#ifndef VAE_DENSE_CLONES
#define VAE_DENSE_CLONES
#endif

// Four columns at a time: y stays in L1 and is loaded and stored once per four columns, and the
// compiler vectorises the row loop (y, A's columns contiguous) for whichever version it compiles.
// Two: y1 += A x1 as well, from the same loads of A. Inlined into each version below.
template <bool Two>
static inline __attribute__((always_inline)) void columnsMultiplyAdd(int rows, int cols, const double* a, int lda, const double* x0,
                                                                     const double* x1, double* __restrict y0, double* __restrict y1) {
    int j = 0;
    for (; j + 4 <= cols; j += 4) {
        const double* __restrict c0 = a + static_cast<std::ptrdiff_t>(j) * lda;
        const double* __restrict c1 = c0 + lda;
        const double* __restrict c2 = c1 + lda;
        const double* __restrict c3 = c2 + lda;
        const double u0 = x0[j], u1 = x0[j + 1], u2 = x0[j + 2], u3 = x0[j + 3];
        if constexpr (Two) {
            const double v0 = x1[j], v1 = x1[j + 1], v2 = x1[j + 2], v3 = x1[j + 3];
            for (int i = 0; i < rows; i++) {
                y0[i] += c0[i] * u0 + c1[i] * u1 + c2[i] * u2 + c3[i] * u3;
                y1[i] += c0[i] * v0 + c1[i] * v1 + c2[i] * v2 + c3[i] * v3;
            }
        } else {
            for (int i = 0; i < rows; i++) y0[i] += c0[i] * u0 + c1[i] * u1 + c2[i] * u2 + c3[i] * u3;
        }
    }
    for (; j < cols; j++) {
        const double* __restrict c = a + static_cast<std::ptrdiff_t>(j) * lda;
        const double u = x0[j];
        if constexpr (Two) {
            const double v = x1[j];
            for (int i = 0; i < rows; i++) {
                y0[i] += c[i] * u;
                y1[i] += c[i] * v;
            }
        } else {
            for (int i = 0; i < rows; i++) y0[i] += c[i] * u;
        }
    }
}

VAE_DENSE_CLONES
void denseMultiplyAdd(int rows, int cols, const double* a, int lda, const double* x, double* y) {
    columnsMultiplyAdd<false>(rows, cols, a, lda, x, nullptr, y, nullptr);
}

VAE_DENSE_CLONES
void denseMultiplyAdd2(int rows, int cols, const double* a, int lda, const double* x0, const double* x1, double* y0, double* y1) {
    columnsMultiplyAdd<true>(rows, cols, a, lda, x0, x1, y0, y1);
}

// Sixteen partial sums per row: four independent vector accumulators (AVX2) hide the latency of the
// fused multiply-add; summed in a fixed order, so a result does not depend on the row's position.
VAE_DENSE_CLONES
void denseRowsMultiplyAdd(int rows, int cols, const double* a, int lda, const double* x, double* __restrict y) {
    for (int r = 0; r < rows; r++) {
        const double* __restrict row = a + static_cast<std::ptrdiff_t>(r) * lda;
        double acc[16] = {};
        int j = 0;
        for (; j + 16 <= cols; j += 16)
            for (int k = 0; k < 16; k++) acc[k] += row[j + k] * x[j + k];
        for (int k = 0; k < 8; k++) acc[k] += acc[k + 8];
        double s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
        for (; j < cols; j++) s += row[j] * x[j];
        y[r] += s;
    }
}

const char* denseInstructionSet() {
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
#if defined(__clang__)
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "x86-64-v3";
#else
    if (__builtin_cpu_supports("x86-64-v3")) return "x86-64-v3";  // the resolver's own test
#endif
#endif
    return "baseline";
}

} // namespace VAEPlugin
