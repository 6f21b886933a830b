#ifndef OPENMM_VAE_NATIVE_DENSE_H_
#define OPENMM_VAE_NATIVE_DENSE_H_

// The dense matrix-vector products of the native networks (encoder, decoders), y += A x in double
// precision, with the instruction set chosen at run time. Internal to the native library.
//
// Why: the library is built for the portable baseline (no -march=native in an installed library),
// where a 300 x 300 product runs at half the speed an AVX2 + FMA machine allows, and a VAE-MC move
// is mostly such products. The kernels are compiled once per instruction set (isa/DenseKernels.inc)
// and chosen at run time (isa/DenseKernels.h). No Eigen code is compiled for the wider sets (that
// would break the one-definition rule).

#include <Eigen/Dense>
#include <cstddef>

namespace VAEPlugin {

/** y[0, rows) += A x[0, cols) for A column-major with leading dimension lda (>= rows). */
void denseMultiplyAdd(int rows, int cols, const double* a, int lda, const double* x, double* y);

/** y0 += A x0 and y1 += A x1 in one pass over A (two latents of a move through the same network). */
void denseMultiplyAdd2(int rows, int cols, const double* a, int lda, const double* x0, const double* x1, double* y0, double* y1);

/**
 * y[0, rows) += A x[0, cols) for A row-major with leading dimension lda: a dot product per row, for
 * the few-row blocks of the autoregressive sampler (one feature's outputs from the hidden units it
 * sees), where the column form has too few rows to vectorise.
 */
void denseRowsMultiplyAdd(int rows, int cols, const double* a, int lda, const double* x, double* y);

/** The instruction set the dense kernels run: "baseline", "x86-64-v3" (AVX2 + FMA) or "x86-64-v4" (AVX-512). */
const char* denseInstructionSet();

/** y += A x for a block of rows [r0, r0 + n) and columns [0, cols) of a (column-major) Eigen matrix. */
inline void denseMultiplyAdd(const Eigen::MatrixXd& a, int r0, int n, int cols, const double* x, double* y) {
    denseMultiplyAdd(n, cols, a.data() + r0, static_cast<int>(a.rows()), x, y);
}

/** Row-major storage for denseRowsMultiplyAdd. */
using DenseRowMatrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

/** y += A x for rows [r0, r0 + n) and columns [0, cols) of a row-major matrix. */
inline void denseRowsMultiplyAdd(const DenseRowMatrix& a, int r0, int n, int cols, const double* x, double* y) {
    denseRowsMultiplyAdd(n, cols, a.data() + static_cast<std::ptrdiff_t>(r0) * a.cols(), static_cast<int>(a.cols()), x, y);
}

/** A x + b as a new vector (A column-major, x of A.cols() values). */
inline Eigen::VectorXd denseAffine(const Eigen::MatrixXd& a, const double* x, const Eigen::VectorXd& b) {
    Eigen::VectorXd y = b;
    denseMultiplyAdd(a, 0, static_cast<int>(a.rows()), static_cast<int>(a.cols()), x, y.data());
    return y;
}

/**
 * tanh of each value as 1 - 2 / (exp(2 x) + 1) with Eigen's vectorised exp: within a few 1e-16 of
 * std::tanh in absolute terms (what a hidden unit's value needs). In a move-cost profile the scalar
 * libm tanh (with its expm1) took 12 % of the samples, this one 2.4 %.
 */
template <typename Derived>
inline Eigen::ArrayXd denseTanh(const Eigen::ArrayBase<Derived>& x) {
    return 1.0 - 2.0 / ((2.0 * x).exp() + 1.0);
}

} // namespace VAEPlugin

#endif
