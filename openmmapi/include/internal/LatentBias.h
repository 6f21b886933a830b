#ifndef OPENMM_VAE_LATENT_BIAS_H_
#define OPENMM_VAE_LATENT_BIAS_H_

#include "VAECVForce.h"
#include "openmm/internal/ContextImpl.h"
#include <string>
#include <vector>

namespace VAEPlugin {

/**
 * The energy of a VAECVForce as a function of the latent z (component or harmonic restraint with
 * Context parameters) and its gradient dE/dz. Defined once for every kernel.
 */
class LatentBias {
public:
    LatentBias() = default;
    /** Reads the mode from the force and checks it against the latent size. */
    LatentBias(const VAECVForce& force, int numLatent);
    /** E(z); fills dEdz (size L). Parameters are read from the Context. */
    double compute(const std::vector<double>& z, OpenMM::ContextImpl& context, std::vector<double>& dEdz) const;
    VAECVForce::EnergyMode getMode() const {
        return mode;
    }
    int getComponent() const {
        return component;
    }
    void setComponent(int k);
private:
    VAECVForce::EnergyMode mode = VAECVForce::Component;
    int component = 0, numLatent = 0;
    std::vector<std::string> centerNames, kappaNames;
};

} // namespace VAEPlugin

#endif
