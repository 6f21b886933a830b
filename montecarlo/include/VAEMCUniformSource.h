#ifndef OPENMM_VAE_MC_UNIFORM_SOURCE_H_
#define OPENMM_VAE_MC_UNIFORM_SOURCE_H_

/**
 * The random numbers of a chain's native moves, taken from the chain's own move generator, so the
 * generator's state (what Context checkpoints store) is the whole random state of the moves: no second
 * generator, no cached value between calls.
 */

#include "UniformSource.h"
#include "VAEMCGenerator.h"

namespace VAEPlugin {

class VAEMCUniformSource : public UniformSource {
public:
    explicit VAEMCUniformSource(VAEMCGenerator& generator) : generator_(generator) {}
    /** 53 random bits, shifted by half a step so that 0 and 1 never occur; the address is ignored. */
    double uniform(int, int) override { return uniform(); }
    double uniform();
    /** A standard normal (Box-Muller from two uniforms; the second value is not kept). */
    double normal();
private:
    VAEMCGenerator& generator_;
};

} // namespace VAEPlugin

#endif
