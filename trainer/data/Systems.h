#ifndef OPENMM_VAE_TRAINER_DATA_SYSTEMS_H_
#define OPENMM_VAE_TRAINER_DATA_SYSTEMS_H_

#include "BundleSchema.h"

#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace VAEPlugin {

/**
 * A built-in two-dimensional system of science.md section 4: one particle in the xy plane whose
 * potential energy U(x, y) is known exactly, in units of kT (inverse temperature 1).
 *
 * Coordinates are used as nm when the system drives a particle in OpenMM. The potential is always the
 * one of the particle in the Cartesian plane: for the beltway this includes the Jacobian term (fix),
 * U_xy = -ln p(r, theta) + ln r, whichever feature kind the system's data are written in.
 */
class System2D {
public:
    virtual ~System2D() = default;
    /** The name used on the command line (mueller, gaussian, ...). */
    virtual std::string name() const = 0;
    /** Feature kind of the data set sample() returns: xy or polar (r, theta). */
    virtual FeatureKind featureKind() const { return FeatureKind::XY; }
    /** Potential energy U(x, y) in kT of the particle at (x, y). */
    virtual double energy(double x, double y) const = 0;
    /** Batched energy: xy is [B, 2] (any floating dtype), returns [B] double. */
    torch::Tensor energy(const torch::Tensor& xy) const;
    /**
     * ln of the normalised density of the data in feature space (xy or (r, theta)) when it is known
     * in closed form; the Mueller potential's normaliser is unknown and it returns -U.
     */
    virtual double featureLogDensity(double f0, double f1) const;
    /** True when featureLogDensity is normalised. */
    virtual bool normalized() const { return true; }
    /** Data set of n configurations in feature space, [n, 2] double, reproducible from seed. */
    virtual torch::Tensor sample(int64_t n, uint64_t seed) const = 0;
    /** Which features are periodic (angles in [-pi, pi)). */
    std::vector<bool> periodic() const { return {false, featureKind() == FeatureKind::Polar}; }
    /** Feature names, e.g. {"x", "y"} or {"r", "theta"}. */
    std::vector<std::string> featureNames() const;
};

/** Names of the built-in systems, in a fixed order. */
const std::vector<std::string>& systemNames();

/** Creates a built-in system by name; throws std::invalid_argument naming the known systems. */
std::unique_ptr<System2D> makeSystem(const std::string& name);

/** Mueller potential, scaled by 0.1 (science.md section 4). */
double muellerEnergy(double x, double y);

/**
 * Metropolis sampling of exp(-U): `chains` parallel chains with Gaussian steps of width sigma,
 * `equilibration` discarded steps per chain, then every `stride` steps one sample per chain, until n
 * samples are collected. Starting points are drawn uniformly in the given box.
 */
torch::Tensor metropolisSample(const System2D& system, int64_t n, uint64_t seed, int chains = 1000,
                               double sigma = 0.1, int equilibration = 2000, int stride = 20,
                               double xmin = -1.5, double xmax = 1.2, double ymin = -0.5, double ymax = 2.0);

} // namespace VAEPlugin

#endif
