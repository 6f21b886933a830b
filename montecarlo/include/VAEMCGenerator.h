#ifndef OPENMM_VAE_MC_GENERATOR_H_
#define OPENMM_VAE_MC_GENERATOR_H_

#include <cstdint>
#include <random>
#include <string>

#ifdef OPENMMVAE_WITH_TORCH
#include <ATen/core/Generator.h>
#endif

namespace VAEPlugin {

/**
 * The move generator of a VAE-MC chain: every random number of its moves and of the velocities the
 * integrator draws after them. With LibTorch it is an ATen CPU generator (the TorchScript path draws its
 * tensors from it); without, a std::mt19937 seeded the same way. Both are MT19937 with the seed's low
 * 32 bits and give 64 bits as two 32-bit draws, the first in the high half (as ATen's random64), so the
 * native moves of both builds draw the same numbers (tested).
 */
class VAEMCGenerator {
public:
    explicit VAEMCGenerator(uint64_t seed);
    uint64_t random64();
    /** The whole state as bytes (what Context checkpoints store). */
    std::string state() const;
    /** Restores a state from state(); std::invalid_argument if the bytes are not one of this build. */
    void setState(const std::string& bytes);
#ifdef OPENMMVAE_WITH_TORCH
    at::Generator& aten() { return generator_; }
#endif
private:
#ifdef OPENMMVAE_WITH_TORCH
    at::Generator generator_;
#else
    std::mt19937 engine_;
#endif
};

} // namespace VAEPlugin

#endif
