#ifndef OPENMM_VAE_DENSITY_SPEC_EIGEN_H_
#define OPENMM_VAE_DENSITY_SPEC_EIGEN_H_

#include "VAEDensitySpec.h"
#include <Eigen/Dense>
#include <vector>

namespace VAEPlugin {

/** A VAEDensitySpec matrix (row-major) as an Eigen matrix. */
inline Eigen::MatrixXd toEigen(const VAEDensitySpec::Matrix& m) {
    using RowMatrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    return Eigen::Map<const RowMatrix>(m.values.data(), m.rows, m.cols);
}

/** A vector of a VAEDensitySpec as an Eigen vector. */
inline Eigen::VectorXd toEigen(const std::vector<double>& v) {
    return Eigen::Map<const Eigen::VectorXd>(v.data(), v.size());
}

/** ln(2 pi), of the normal densities. */
constexpr double kLn2Pi = 1.8378770664093453;

} // namespace VAEPlugin

#endif
