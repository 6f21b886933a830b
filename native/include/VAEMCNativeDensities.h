#ifndef OPENMM_VAE_MC_NATIVE_DENSITIES_H_
#define OPENMM_VAE_MC_NATIVE_DENSITIES_H_

/**
 * The state-side log densities of a VAE move, ln q(z|x), ln P(z) and ln P(x|z), for one configuration
 * x and one latent z at a time, in plain C++ (Eigen) from the bundle's parameters.
 *
 * Why: every move refreshes z ~ q(z|x) and needs these three numbers for it (science.md section 5).
 * Through TorchScript each call costs milliseconds of per-operation overhead whatever the batch (the
 * spline prior alone ~1 ms), which made the refresh the dominant cost of a move once proposals were
 * batched. Natively one z costs tens of microseconds and no z is drawn in vain.
 *
 * Covered: the encoder (both heads), the RealNVP rational-quadratic-spline prior (density and
 * sampling) and the decoders of the trainer (trainer/model: mse, condind, autoregressive with the
 * mixture layout, flow with circular splines; rotor multiplicity) with their samplers and, for the
 * autoregressive decoder, the conditional terms of partial moves, so that a whole move can run
 * natively. tryCreate() returns null for anything else (legacy autoregressive and flow layouts,
 * foreign modules) and for any bundle whose native values differ from its TorchScript methods on
 * the check inputs (BundleCheckRecord), samples with identical noise included (so a mismatch can only cost speed, never
 * exactness); callers then use the TorchScript methods.
 */

#include "NativeDecoder.h"
#include "NativeEncoder.h"
#include "NativePriorFlow.h"
#include "BundleCheckRecord.h"
#include "NativeModuleTree.h"

#include <memory>

namespace VAEPlugin {

class VAEMCNativeDensities {
public:
    /**
     * The evaluator of a bundle described by its module tree, or null (see above): checked against
     * `record`, what the bundle's own methods give (VAEModelBundle::getCheckRecord).
     */
    static std::unique_ptr<VAEMCNativeDensities> tryCreate(const NativeModuleTree& bundle, const BundleCheckRecord& record);
#ifdef OPENMMVAE_WITH_TORCH
    /** tryCreate of a bundle module (with the trainer's methods), checked against the module's methods. */
    static std::unique_ptr<VAEMCNativeDensities> tryCreate(torch::jit::Module& bundle);
#endif
    ~VAEMCNativeDensities();
    int latentSize() const;
    int numFeatures() const;
    /** The configuration of the following decoderLogProb calls: its features x (D values, unstandardised). */
    void setFeatures(const double* x);
    /** ln q(z|x) of the encoder's Gaussian with mean mu and log-variance logvar (L values each). */
    double encoderLogProb(const double* z, const double* mu, const double* logvar) const;
    /** ln P(z) of the prior flow. */
    double priorLogProb(const double* z) const;
    /** ln P(x|z) for the features of the last setFeatures, as the bundle's decoder_log_prob. */
    double decoderLogProb(const double* z) const;
    /** The native parts, for a whole move natively: encode, prior sample/logProb, decoder sample/logProb(From). */
    const NativeEncoder& encoder() const;
    const NativePriorFlow& prior() const;
    const NativeDecoder& decoder() const;
private:
    class Impl;
    explicit VAEMCNativeDensities(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl;
};

} // namespace VAEPlugin

#endif
