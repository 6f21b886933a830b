#ifndef OPENMM_VAE_NATIVE_SELF_CHECK_H_
#define OPENMM_VAE_NATIVE_SELF_CHECK_H_

#include "VAEEncoderSpec.h"
#include "VAEModelBundle.h"
#include <string>
#include <vector>

namespace VAEPlugin {

/**
 * The one check that native code may stand in for a bundle's CV: the bundle's own forward (TorchScript;
 * without LibTorch, what it gave when the bundle was written: BundleCheckRecord) and the native evaluator
 * of its encoder description, both in double precision, on the probe configuration
 * (VAEModelBundle::probePositions). Every kernel calls it before it uses native or device
 * code, so a bundle whose description differs from what it computes is never silently biased with
 * another CV.
 */
struct NativeSelfCheck {
    std::vector<double> forwardLatent;  ///< z of the bundle's forward on the probe (its size is L)
    bool describable = false;           ///< the module has an encoder description of a supported architecture
    VAEEncoderSpec spec;                ///< that description (when describable)
    std::string whyNot;                 ///< why native code cannot stand in (empty when it can)
    /** True when the description exists and reproduces forward (1e-9 relative) on the probe. */
    bool agrees() const { return describable && whyNot.empty(); }
};

/**
 * Takes forward on the probe (VAEModelBundle::getCheckRecord: BundleError if forward fails or returns no
 * [L] tensor) and, when the bundle is describable for numAtoms atoms, runs the native evaluator on the same positions.
 */
NativeSelfCheck checkNativeAgainstBundle(const VAEModelBundle& bundle, int numAtoms);

} // namespace VAEPlugin

#endif
