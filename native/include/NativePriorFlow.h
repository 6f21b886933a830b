#ifndef OPENMM_VAE_NATIVE_PRIOR_FLOW_H_
#define OPENMM_VAE_NATIVE_PRIOR_FLOW_H_

#include "VAEDensitySpec.h"
#include <Eigen/Dense>
#include <vector>

namespace VAEPlugin {

/**
 * ln P(z) of the bundle's prior, the RealNVP flow of rational-quadratic-spline couplings
 * (trainer/model Flows), in double precision: z is mapped to the standard normal through the
 * inverse of every block, their log-determinants summed.
 */
class NativePriorFlow {
public:
    explicit NativePriorFlow(const VAEDensitySpec& spec);
    int latentSize() const { return latent; }
    /** ln P(z) for z of latentSize() values. */
    double logProb(const double* z) const;
private:
    /** The rational-quadratic spline of a coupling (identity outside [-bound, bound]). */
    struct Spline {
        int bins;
        double bound, minBin, minSlope, span;
        /** y and ln|dy/dx| of x with raw parameters raw[0 .. 3 bins - 2]. */
        void forward(double x, const double* raw, double& y, double& logd) const;
    };
    /** A coupling block; inverse() is the normalising direction z -> eps, in place, returning ln|det|. */
    struct Coupling {
        Eigen::MatrixXd w1, w2;
        Eigen::VectorXd b1, b2;
        bool constantInput, transformSecond;
        int split, numTransformed;
        Spline spline;
        double inverse(Eigen::VectorXd& x) const;
    };
    int latent;
    std::vector<Coupling> blocks;
};

} // namespace VAEPlugin

#endif
