#include "internal/LatentBias.h"
#include "openmm/OpenMMException.h"

using namespace VAEPlugin;
using namespace OpenMM;

LatentBias::LatentBias(const VAECVForce& force, int numLatent) : mode(force.getEnergyMode()), numLatent(numLatent) {
    setComponent(force.getComponent());
    if (mode == VAECVForce::HarmonicRestraint) {
        if ((int) force.getCenters().size() != numLatent)
            throw OpenMMException("VAECVForce: the harmonic restraint has " + std::to_string(force.getCenters().size()) +
                                  " centers but the latent space has " + std::to_string(numLatent) + " dimension(s)");
        for (int k = 0; k < numLatent; k++) {
            centerNames.push_back(force.getCenterParameterName(k));
            kappaNames.push_back(force.getForceConstantParameterName(k));
        }
    }
    if (mode == VAECVForce::GridBias) {
        const LatentGrid& g = force.getGridBias();
        if (g.getNumDimensions() != numLatent)
            throw OpenMMException("VAECVForce: the grid bias has " + std::to_string(g.getNumDimensions()) + " dimension(s) but the latent space has " +
                                  std::to_string(numLatent));
        grid = std::make_shared<LatentGrid>(g);
    }
}

void LatentBias::updateGrid(const LatentGrid& g) {
    if (!grid)
        throw OpenMMException("VAECVForce.updateParametersInContext: the Context's force is not in GridBias mode; reinitialize the Context");
    if (!grid->hasSameGeometry(g))
        throw OpenMMException("VAECVForce.updateParametersInContext: the grid geometry (bounds, sizes or periodicity) cannot change in a Context; "
                              "only its values and wall force constant can. Reinitialize the Context");
    grid->setValues(g.getValues());
    grid->setWallForceConstant(g.getWallForceConstant());
}

void LatentBias::setComponent(int k) {
    if (mode == VAECVForce::Component && k >= numLatent)
        throw OpenMMException("VAECVForce: component index " + std::to_string(k) + " is out of range: the latent space has " +
                              std::to_string(numLatent) + " dimension(s)");
    component = k;
}

double LatentBias::compute(const std::vector<double>& z, ContextImpl& context, std::vector<double>& dEdz) const {
    dEdz.assign(numLatent, 0.0);
    if (mode == VAECVForce::Component) {
        dEdz[component] = 1.0;
        return z[component];
    }
    if (mode == VAECVForce::GridBias)
        return grid->evaluate(z, dEdz);
    double energy = 0.0;
    for (int k = 0; k < numLatent; k++) {
        double delta = z[k] - context.getParameter(centerNames[k]);
        double kappa = context.getParameter(kappaNames[k]);
        energy += 0.5 * kappa * delta * delta;
        dEdz[k] = kappa * delta;
    }
    return energy;
}
