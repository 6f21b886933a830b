#ifndef OPENMM_VAE_UNIFORM_SOURCE_H_
#define OPENMM_VAE_UNIFORM_SOURCE_H_

#include <cstdint>
#include <random>

namespace VAEPlugin {

/**
 * The uniforms a native sampler consumes, addressed by (feature, slot) as the bundle's
 * decoder_sample(z, noise) addresses its noise tensor [B, D, S] (spec: slot 0 Gaussian inverse CDF
 * or von Mises sign, 1 mixture component, 2 rotor branch, 3 + 2t and 4 + 2t the t-th Best-Fisher
 * try). A test source returns the tensor's entries, so native and TorchScript draw identical samples.
 */
class UniformSource {
public:
    virtual ~UniformSource() = default;
    /** A uniform in the open interval (0, 1) for slot `slot` of feature `feature`. */
    virtual double uniform(int feature, int slot) = 0;
};

/** The production source: ignores the address and returns the next number of a seeded std::mt19937_64. */
class GeneratorUniformSource : public UniformSource {
public:
    explicit GeneratorUniformSource(uint64_t seed) : generator(seed) {}
    /** 53 random bits, shifted by half a step so that 0 and 1 never occur. */
    double uniform(int, int) override { return ((generator() >> 11) + 0.5) * (1.0 / 9007199254740992.0); }
    std::mt19937_64& engine() { return generator; }
private:
    std::mt19937_64 generator;
};

} // namespace VAEPlugin

#endif
