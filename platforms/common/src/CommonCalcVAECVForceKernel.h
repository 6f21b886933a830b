#ifndef COMMON_CALC_VAE_CV_FORCE_KERNEL_H_
#define COMMON_CALC_VAE_CV_FORCE_KERNEL_H_

#include "VAEKernels.h"
#include "internal/LatentBias.h"
#include "openmm/common/ComputeArray.h"
#include "openmm/common/ComputeContext.h"
#include "openmm/common/ComputeKernel.h"
#include <string>
#include <vector>

namespace VAEPlugin {

/**
 * VAECVForce on the GPU platforms (OpenCL, CUDA), written once against OpenMM's common compute API.
 *
 * The whole CV evaluation runs on the device in one kernel launch per force evaluation (kernels/
 * vaeCVForce.cc): positions are read from the platform's arrays and forces added to its force
 * buffer, so nothing is copied to or from the host in the MD loop. The bundle must be a trainer
 * bundle of an architecture VAEEncoderSpec describes (else initialize() throws: there is no
 * TorchScript fallback on the GPU platforms). The arithmetic follows the platform's Precision
 * property (network in float for single and mixed, featurisation and bias in double for mixed);
 * the force's Implementation and Precision properties only concern the Reference and CPU platforms.
 * Every energy mode runs on the device; the grid bias's values live in a device array that
 * copyParametersToContext refreshes. In a periodic System the selected atoms are made whole with
 * the box of each launch (internal/WholeMolecule.h, restated in the kernel).
 */
class CommonCalcVAECVForceKernel : public CalcVAECVForceKernel {
public:
    CommonCalcVAECVForceKernel(std::string name, const OpenMM::Platform& platform, OpenMM::ComputeContext& cc)
        : CalcVAECVForceKernel(name, platform), cc(cc) {
    }
    void initialize(const OpenMM::System& system, const VAECVForce& force, const std::vector<int>& atoms) override;
    double execute(OpenMM::ContextImpl& context, bool includeForces, bool includeEnergy) override;
    std::vector<double> getCollectiveVariableValues(OpenMM::ContextImpl& context) override;
    void copyParametersToContext(OpenMM::ContextImpl& context, const VAECVForce& force, const std::vector<int>& atoms) override;
    /** "native-single", "native-mixed" or "native-double": the platform's precision. */
    std::string getImplementation() const override;
    long long getNumModelEvaluations() const override {
        return numModelEvaluations;
    }
private:
    /** What the kernel computes: z only, z and the energy, or also the forces. */
    enum Stage { LatentOnly = 0, Energy = 1, EnergyAndForces = 2 };
    /** Bring the device copies of the atoms' storage indices, cell shifts and bias parameters up to date, then launch. */
    void launch(OpenMM::ContextImpl& context, Stage stage);
    void updateAtomLocations();
    void updateBiasParameters(OpenMM::ContextImpl& context);
    /** GridBias mode: the bias parameters of the kernel, [mins, maxs, spacings, wall force constant, values]. */
    std::vector<double> gridBiasParameters() const;
    OpenMM::ComputeContext& cc;
    OpenMM::ComputeKernel kernel;
    OpenMM::ComputeArray network, standardization, inputSlot, deviceIndex, cellShift, biasParameters, work, featureWork, latent;
    OpenMM::ComputeArray featureMapIndices, featureMapData;  // CommonVAEFeatureMapData
    LatentBias bias;
    std::string source;
    std::vector<int> atoms, hostDeviceIndex;
    std::vector<double> hostCellShift, cellShiftScratch, hostBiasParameters;
    std::vector<std::string> biasParameterNames;
    int numLatent = 0, workGroupSize = 0, componentArgument = 0, boxArgument = 0;
    bool periodicSystem = false;
    long long numModelEvaluations = 0;
};

} // namespace VAEPlugin

#endif
