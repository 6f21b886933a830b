#ifndef OPENMM_VAE_DENSE_KERNEL_TABLE_H_
#define OPENMM_VAE_DENSE_KERNEL_TABLE_H_

// The table of dense kernels of one instruction set (see DenseKernels.h). No standard library
// headers: this is included by the sources compiled with wider instruction sets.

namespace VAEPlugin {

struct DenseKernels {
    /** "baseline", "x86-64-v3" (AVX2 + FMA) or "x86-64-v4" (AVX-512 F/BW/CD/DQ/VL). */
    const char* name;
    /** y[0, rows) += A x for A column-major with leading dimension lda (>= rows). */
    void (*multiplyAdd)(int rows, int cols, const double* a, int lda, const double* x, double* y);
    /** y0 += A x0 and y1 += A x1 in one pass over A. */
    void (*multiplyAdd2)(int rows, int cols, const double* a, int lda, const double* x0, const double* x1, double* y0, double* y1);
    /** y[0, rows) += A x for A row-major with leading dimension lda (>= cols). */
    void (*rowsMultiplyAdd)(int rows, int cols, const double* a, int lda, const double* x, double* y);
    /** y[0, rows) += sum over j with x[j] != 0 of A[:, j] x[j], A column-major (lda >= rows). */
    void (*axpyNonzeroColumnsFloat)(int rows, int cols, const float* a, int lda, const float* x, float* y);
    void (*axpyNonzeroColumnsDouble)(int rows, int cols, const double* a, int lda, const double* x, double* y);
    /** out[j] = A[:, j] . g where mask is null or mask[j] > 0, else 0 (j < cols), A column-major. */
    void (*dotMaskedColumnsFloat)(int rows, int cols, const float* a, int lda, const float* g, const float* mask, float* out);
    void (*dotMaskedColumnsDouble)(int rows, int cols, const double* a, int lda, const double* g, const double* mask, double* out);
};

// One table per compiled set (isa/DenseKernels*.cpp).
extern const DenseKernels denseKernelsBaseline;
#ifdef VAE_HAVE_ISA_X86_64_V3
extern const DenseKernels denseKernelsX86_64_V3;
#endif
#ifdef VAE_HAVE_ISA_X86_64_V4
extern const DenseKernels denseKernelsX86_64_V4;
#endif

} // namespace VAEPlugin

#endif
