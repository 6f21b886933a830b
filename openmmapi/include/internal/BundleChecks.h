#ifndef OPENMM_VAE_BUNDLE_CHECKS_H_
#define OPENMM_VAE_BUNDLE_CHECKS_H_

#include "VAEModelBundle.h"
#include "openmm/OpenMMException.h"
#include "openmm/System.h"
#include <string>
#include <vector>

namespace VAEPlugin {

/** Runs f, reporting a BundleError as the OpenMMException that OpenMM users catch (message unchanged). */
template <class F>
auto reportingBundleErrors(F&& f) -> decltype(f()) {
    try {
        return f();
    }
    catch (const BundleError& e) {
        throw OpenMM::OpenMMException(e.what());
    }
}

/** What a bundle is used for, which decides what of the System it must fit. */
enum class BundleUse {
    CollectiveVariable,  ///< VAECVForce: reads positions only, so only the atoms are checked
    Moves                ///< VAEMCIntegrator: its moves must keep the System's constraints
};

/**
 * Check that a bundle fits a System, throwing OpenMMException (messages start with `user`, e.g.
 * "VAECVForce") naming the atoms and values at fault:
 *  - every bundle atom index is < system.getNumParticles();
 *  - for moves with `bat` features: the System's constraints between bundle atoms are exactly the
 *    metadata's constrained bonds, and no constraint joins a bundle atom to an atom outside the
 *    bundle (a move would break it). Their lengths may differ from the training data's: the moves
 *    build those bonds at the System's lengths.
 * `atoms` places the bundle's atoms at these System indices (in the bundle's atom order; e.g.
 * VAECVForce::setAtoms) instead of the metadata's; constrained bonds are mapped through the
 * metadata's atoms to these. Bundles without metadata (foreign models) are not checked.
 */
void checkBundleFitsSystem(const VAEModelBundle& bundle, const OpenMM::System& system, const std::string& user,
                           const std::vector<int>& atoms, BundleUse use);
/** As above with the metadata's atoms. */
void checkBundleFitsSystem(const VAEModelBundle& bundle, const OpenMM::System& system, const std::string& user,
                           BundleUse use);

} // namespace VAEPlugin

#endif
