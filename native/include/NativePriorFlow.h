#ifndef OPENMM_VAE_NATIVE_PRIOR_FLOW_H_
#define OPENMM_VAE_NATIVE_PRIOR_FLOW_H_

#include "NativeRQSpline.h"
#include "VAEDensitySpec.h"
#include <Eigen/Dense>
#include <vector>

namespace VAEPlugin {

/**
 * ln P(z) of the bundle's prior, the RealNVP flow of rational-quadratic-spline couplings
 * (trainer/model Flows), in double precision: z is mapped to the standard normal through the
 * inverse of every block, their log-determinants summed; sample() maps eps to z through their forward.
 */
class NativePriorFlow {
public:
    explicit NativePriorFlow(const VAEDensitySpec& spec);
    int latentSize() const { return latent; }
    /** ln P(z) for z of latentSize() values. */
    double logProb(const double* z) const;
    /**
     * z = f(eps) (latentSize() values each), as prior_sample: every block's spline solved in the
     * generative direction. Returns ln P(z), as logProb(z) would (the normal density of eps and the
     * splines' derivatives at the solutions), so that a move needs no inverse pass for its z'.
     */
    double sample(const double* eps, double* z) const;
private:
    /** A coupling block; inverse() is the normalising direction z -> eps, in place, returning ln|det|. */
    struct Coupling {
        Eigen::MatrixXd w1, w2;
        Eigen::VectorXd b1, b2;
        bool constantInput, transformSecond;
        int split, numTransformed;
        NativeRQSpline spline;
        double inverse(Eigen::VectorXd& x) const;
        /** The generative direction eps -> z, in place; returns ln|det| of the normalising direction at the result. */
        double forward(Eigen::VectorXd& x) const;
        /** The raw spline parameters of the transformed half, from the constant half of x. */
        Eigen::VectorXd conditioner(const Eigen::VectorXd& x) const;
    };
    int latent;
    std::vector<Coupling> blocks;
};

} // namespace VAEPlugin

#endif
