#ifndef OPENMM_VAE_LATENT_BIAS_H_
#define OPENMM_VAE_LATENT_BIAS_H_

#include "LatentGrid.h"
#include "VAECVForce.h"
#include "openmm/internal/ContextImpl.h"
#include <memory>
#include <string>
#include <vector>

namespace VAEPlugin {

/**
 * The energy of a VAECVForce as a function of the latent z (component, harmonic restraint with
 * Context parameters, or the interpolated LatentGrid) and its gradient dE/dz. Defined once for
 * every CPU-side kernel.
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
    /** GridBias mode: take the values and wall constant of a grid of the same geometry (else OpenMMException). */
    void updateGrid(const LatentGrid& grid);
    /** The grid of GridBias mode (null in the other modes). */
    const LatentGrid* getGrid() const {
        return grid.get();
    }
private:
    VAECVForce::EnergyMode mode = VAECVForce::Component;
    int component = 0, numLatent = 0;
    std::vector<std::string> centerNames, kappaNames;
    std::shared_ptr<LatentGrid> grid;
};

} // namespace VAEPlugin

#endif
