#include "NativeSelfCheck.h"
#include "NativeCVEvaluator.h"
#include "VAEModelBundle.h"
#include <cmath>

using namespace VAEPlugin;

NativeSelfCheck VAEPlugin::checkNativeAgainstBundle(const VAEModelBundle& bundle, int numAtoms) {
    NativeSelfCheck check;
    std::vector<double> probe = VAEModelBundle::probePositions(numAtoms);
    check.forwardLatent = bundle.getCheckRecord(numAtoms, false).probeLatent;
    std::shared_ptr<const NativeModuleTree> tree = bundle.getModuleTree(&check.whyNot);
    if (!tree)
        return check;
    check.describable = VAEEncoderSpec::fromTree(*tree, check.spec, check.whyNot);
    if (!check.describable)
        return check;
    if (check.spec.numAtoms != numAtoms) {
        check.whyNot = "the bundle describes " + std::to_string(check.spec.numAtoms) + " atoms";
        return check;
    }
    std::vector<double> zNative;
    createNativeCVEvaluator(check.spec, "double")->evaluate(probe, zNative, false);
    if (zNative.size() != check.forwardLatent.size()) {
        check.whyNot = "its encoder description gives " + std::to_string(zNative.size()) + " latent values and its forward " +
                       std::to_string(check.forwardLatent.size());
        return check;
    }
    for (size_t k = 0; k < zNative.size(); k++) {
        double expected = check.forwardLatent[k];
        if (!(std::fabs(zNative[k] - expected) <= 1e-9 * (1 + std::fabs(expected)))) {
            check.whyNot = "its encoder description disagrees with its forward (z" + std::to_string(k) + " = " + std::to_string(expected) +
                           " from forward, " + std::to_string(zNative[k]) + " from the description)";
            return check;
        }
    }
    return check;
}
