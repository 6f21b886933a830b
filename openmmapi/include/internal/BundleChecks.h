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

/**
 * Check that a bundle fits a System, throwing OpenMMException (messages start with `user`, e.g.
 * "VAECVForce") naming the atoms and values at fault:
 *  - every bundle atom index is < system.getNumParticles();
 *  - for `bat` features: the System's constraints between bundle atoms are exactly the metadata's
 *    constrained bonds, with lengths equal within 1e-4 nm, and no constraint joins a bundle atom to
 *    an atom outside the bundle (a move would break it).
 * `atoms` places the bundle's atoms at these System indices (in the bundle's atom order; e.g.
 * VAECVForce::setAtoms) instead of the metadata's; constrained bonds are mapped through the
 * metadata's atoms to these. Bundles without metadata (foreign models) are not checked.
 */
void checkBundleFitsSystem(const VAEModelBundle& bundle, const OpenMM::System& system, const std::string& user,
                           const std::vector<int>& atoms);
/** As above with the metadata's atoms. */
void checkBundleFitsSystem(const VAEModelBundle& bundle, const OpenMM::System& system, const std::string& user);

} // namespace VAEPlugin

#endif
