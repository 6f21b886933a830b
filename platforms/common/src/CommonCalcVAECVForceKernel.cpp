#include "CommonCalcVAECVForceKernel.h"
#include "CommonVAEFeatureMapData.h"
#include "CommonVAEKernelSources.h"
#include "NativeSelfCheck.h"
#include "internal/BundleChecks.h"
#include "internal/PythonGilRelease.h"
#include "openmm/OpenMMException.h"
#include "openmm/common/ContextSelector.h"
#include "openmm/internal/ContextImpl.h"
#include <cmath>
#include <map>

using namespace VAEPlugin;
using namespace OpenMM;

namespace {

/** Row-major [outputs, inputs] weights transposed to input-major [inputs, outputs]. */
std::vector<double> transposed(const VAEEncoderSpec::Layer& layer) {
    std::vector<double> result(layer.weight.size());
    for (int o = 0; o < layer.outputs; o++)
        for (int i = 0; i < layer.inputs; i++)
            result[i * layer.outputs + o] = layer.weight[o * layer.inputs + i];
    return result;
}

} // namespace

void CommonCalcVAECVForceKernel::initialize(const System& system, const VAECVForce& force, const std::vector<int>& atoms) {
    PythonGilRelease gil;
    ContextSelector selector(cc);
    const VAEModelBundle& bundle = force.getBundle();
    source = bundle.getSource();
    this->atoms = atoms;
    // The device code evaluates the encoder description; it must reproduce the bundle's own forward.
    NativeSelfCheck check = reportingBundleErrors([&] { return checkNativeAgainstBundle(bundle, atoms.size()); });
    const std::map<std::string, std::string>& kinds = CommonVAEKernelSources::featureKinds();
    std::string kindList;  // the kinds with device code in kernels/features
    for (const auto& kind : kinds)
        kindList += (kindList.empty() ? "" : ", ") + kind.first;
    if (!check.describable)
        throw OpenMMException("VAECVForce: the " + getPlatform().getName() + " platform evaluates only trainer bundles of a supported architecture "
                              "(feature kinds " + kindList + "; two ReLU hidden layers), and the model from " + source +
                              " is not one: " + check.whyNot + ". Use the Reference or CPU platform for this model.");
    const VAEEncoderSpec& spec = check.spec;
    if (kinds.find(featureKindName(spec.featureKind)) == kinds.end())
        throw OpenMMException("VAECVForce: the " + getPlatform().getName() + " platform has no kernel for feature kind '" +
                              featureKindName(spec.featureKind) + "' of the model from " + source + " (it has kernels for " + kindList +
                              "). Use the Reference or CPU platform for this model.");
    if ((int) atoms.size() != spec.numAtoms)
        throw OpenMMException("VAECVForce: the model from " + source + " expects " + std::to_string(spec.numAtoms) + " atoms but " +
                              std::to_string(atoms.size()) + " are selected");
    if (!check.agrees())
        throw OpenMMException("VAECVForce: the GPU kernels cannot evaluate the model from " + source + ": " + check.whyNot);
    numLatent = spec.latent;
    int metadataLatent = bundle.getMetadataLatentSize();
    if (metadataLatent > 0 && metadataLatent != numLatent)
        throw OpenMMException("VAECVForce: the model from " + source + " returns " + std::to_string(numLatent) +
                              " latent values but its metadata says 'latent' = " + std::to_string(metadataLatent));
    bias = LatentBias(force, numLatent);
    if (bias.getMode() == VAECVForce::HarmonicRestraint)
        for (int k = 0; k < numLatent; k++)
            biasParameterNames.push_back(force.getCenterParameterName(k));
    for (int k = 0; k < numLatent && bias.getMode() == VAECVForce::HarmonicRestraint; k++)
        biasParameterNames.push_back(force.getForceConstantParameterName(k));

    // The network: per layer an input-major copy (forward) and the row-major weights (backward), then the bias.
    const bool useDouble = cc.getUseDoublePrecision(), useMixed = cc.getUseMixedPrecision();
    const int realSize = useDouble ? sizeof(double) : sizeof(float), mixedSize = useDouble || useMixed ? sizeof(double) : sizeof(float);
    std::map<std::string, std::string> defines;
    std::vector<double> parameters;
    const char* names[3] = {"1", "2", "3"};
    for (int l = 0; l < 3; l++) {
        const VAEEncoderSpec::Layer& layer = spec.layers[l];
        std::vector<double> t = transposed(layer);
        defines[std::string("W") + names[l] + "T"] = std::to_string(parameters.size());
        parameters.insert(parameters.end(), t.begin(), t.end());
        defines[std::string("W") + names[l]] = std::to_string(parameters.size());
        parameters.insert(parameters.end(), layer.weight.begin(), layer.weight.end());
        defines[std::string("B") + names[l]] = std::to_string(parameters.size());
        parameters.insert(parameters.end(), layer.bias.begin(), layer.bias.end());
    }
    network.initialize(cc, parameters.size(), realSize, "vaeNetwork");
    network.upload(parameters, true);
    std::vector<double> meanScale = spec.mean;
    meanScale.insert(meanScale.end(), spec.scale.begin(), spec.scale.end());
    standardization.initialize(cc, meanScale.size(), mixedSize, "vaeStandardization");
    standardization.upload(meanScale, true);
    // Encoder input slot of each feature: non-periodic ones first, then cos of the periodic ones (sin follows at + NUM_PERIODIC).
    std::vector<int> nonPeriodic = spec.nonPeriodicFeatures(), periodic = spec.periodicFeatures();
    std::vector<int> slots(spec.numFeatures);
    for (int j = 0; j < (int) nonPeriodic.size(); j++)
        slots[nonPeriodic[j]] = j;
    for (int j = 0; j < (int) periodic.size(); j++)
        slots[periodic[j]] = nonPeriodic.size() + j;
    inputSlot.initialize<int>(cc, slots.size(), "vaeInputSlot");
    inputSlot.upload(slots);
    // What the feature kind's device code reads besides the positions (the bat tree, the cartesian reference).
    CommonVAEFeatureMapData featureMap(spec);
    featureMapIndices.initialize<int>(cc, featureMap.getIndices().size(), "vaeFeatureMapIndices");
    featureMapIndices.upload(featureMap.getIndices());
    featureMapData.initialize(cc, featureMap.getData().size(), mixedSize, "vaeFeatureMapData");
    featureMapData.upload(featureMap.getData(), true);
    defines.insert(featureMap.getDefines().begin(), featureMap.getDefines().end());

    const int numInputs = spec.layers[0].inputs, hidden1 = spec.layers[0].outputs, hidden2 = spec.layers[1].outputs;
    int offset = 0;
    for (auto& region : std::vector<std::pair<const char*, int>>{{"INPUT", numInputs}, {"PRE1", hidden1}, {"PRE2", hidden2}, {"DEDZ", numLatent},
                                                                 {"GRAD2", hidden2}, {"GRAD1", hidden1}, {"GRADIN", numInputs}}) {
        defines[region.first] = std::to_string(offset);
        offset += region.second;
    }
    work.initialize(cc, offset, realSize, "vaeWork");
    offset = 0;
    const int numAtoms = atoms.size();
    for (auto& region : std::vector<std::pair<const char*, int>>{{"POSITIONS", 3 * numAtoms}, {"FEATURES", spec.numFeatures}, {"STANDARDIZED", spec.numFeatures},
                                                                 {"DFEATURES", spec.numFeatures}, {"DPOSITIONS", 3 * numAtoms}}) {
        defines[region.first] = std::to_string(offset);
        offset += region.second;
    }
    featureWork.initialize(cc, offset, mixedSize, "vaeFeatureWork");
    latent.initialize(cc, numLatent, realSize, "vaeLatent");
    deviceIndex.initialize<int>(cc, numAtoms, "vaeDeviceIndex");
    cellShift.initialize(cc, 3 * numAtoms, mixedSize, "vaeCellShift");
    hostDeviceIndex.assign(numAtoms, -1);
    hostCellShift.assign(3 * numAtoms, NAN);  // forces the first upload
    if (bias.getMode() == VAECVForce::GridBias) {
        // The grid's geometry is fixed in a Context: sizes and periodicity are compiled in, bounds,
        // spacings, wall and values are parameters that copyParametersToContext uploads again.
        const LatentGrid& grid = *bias.getGrid();
        std::string sizeList, periodicList;
        for (int d = 0; d < numLatent; d++) {
            sizeList += (d == 0 ? "{" : ", ") + std::to_string(grid.getSizes()[d]);
            periodicList += (d == 0 ? "{" : ", ") + std::string(grid.getPeriodic()[d] ? "1" : "0");
        }
        defines["GRID_BIAS"] = "1";
        defines["GRID_SIZES"] = sizeList + "}";
        defines["GRID_PERIODIC"] = periodicList + "}";
        defines["GRID_MINS"] = "0";
        defines["GRID_MAXS"] = std::to_string(numLatent);
        defines["GRID_SPACING"] = std::to_string(2 * numLatent);
        defines["GRID_WALL"] = std::to_string(3 * numLatent);
        defines["GRID_VALUES"] = std::to_string(3 * numLatent + 1);
        hostBiasParameters = gridBiasParameters();
        biasParameters.initialize(cc, hostBiasParameters.size(), mixedSize, "vaeBiasParameters");
        biasParameters.upload(hostBiasParameters, true);
    }
    else {
        biasParameters.initialize(cc, std::max(1, 2 * numLatent), mixedSize, "vaeBiasParameters");
        hostBiasParameters.assign(2 * numLatent, NAN);
    }
    // In a periodic System the kernel makes the selected atoms whole (WholeMolecule.h) with the box of each launch.
    periodicSystem = system.usesPeriodicBoundaryConditions();
    if (periodicSystem)
        defines["WHOLE_MOLECULE"] = "1";

    defines["NUM_ATOMS"] = std::to_string(numAtoms);
    defines["NUM_FEATURES"] = std::to_string(spec.numFeatures);
    defines["NUM_NONPERIODIC"] = std::to_string(nonPeriodic.size());
    defines["NUM_PERIODIC"] = std::to_string(periodic.size());
    defines["NUM_INPUTS"] = std::to_string(numInputs);
    defines["HIDDEN1"] = std::to_string(hidden1);
    defines["HIDDEN2"] = std::to_string(hidden2);
    defines["LATENT"] = std::to_string(numLatent);
    defines["PADDED_NUM_ATOMS"] = std::to_string(cc.getPaddedNumAtoms());
    if (bias.getMode() == VAECVForce::Component)
        defines["COMPONENT_MODE"] = "1";
    if (useMixed)
        defines["USE_MIXED_PRECISION"] = "1";
    // OpenMM's fixed-point force accumulation where the device has 64-bit atomics (always on CUDA),
    // else the real4 force buffer that OpenCL then reduces.
    const bool longForces = cc.getSupports64BitGlobalAtomics();
    if (longForces)
        defines["USE_LONG_FORCES"] = "1";
    // One work group. On a GPU it needs many threads to keep enough weight loads in flight in the
    // dense layers (on an H200, 256-1024 threads with one per output tie and 128 is 45 % slower;
    // several threads per output lose more to reductions: bench/README.md, GPU); on a CPU device a
    // work item is a loop iteration, so few. The properties WorkGroupSize and ThreadsPerOutput
    // override the defaults. The kernel's own limit (registers) may be below the device's: then the
    // program is compiled again for half as many threads.
    const std::string programSource = kinds.at(featureKindName(spec.featureKind)) + CommonVAEKernelSources::vaeCVForce;
    const std::map<std::string, std::string>& properties = force.getProperties();
    auto numericProperty = [&](const char* name) {
        auto p = properties.find(name);
        return p == properties.end() || p->second == "auto" ? 0 : std::stoi(p->second);
    };
    workGroupSize = numericProperty("WorkGroupSize");
    if (workGroupSize == 0)
        workGroupSize = cc.getIsCPU() ? 16 : 512;
    const int threadsPerOutput = std::max(1, numericProperty("ThreadsPerOutput"));
    while (workGroupSize > cc.getMaxThreadBlockSize())
        workGroupSize /= 2;
    while (true) {
        defines["WORK_GROUP_SIZE"] = std::to_string(workGroupSize);
        defines["MIN_THREADS_PER_OUTPUT"] = std::to_string(std::min(threadsPerOutput, workGroupSize));
        kernel = cc.compileProgram(programSource, defines)->createKernel("computeVAECV");
        if (kernel->getMaxBlockSize() >= workGroupSize || workGroupSize == 1)
            break;
        workGroupSize /= 2;
    }
    kernel->addArg(cc.getPosq());
    if (useMixed)
        kernel->addArg(cc.getPosqCorrection());
    for (ComputeArray* array : {&deviceIndex, &cellShift, &network, &standardization, &inputSlot, &biasParameters, &featureMapIndices, &featureMapData})
        kernel->addArg(*array);
    componentArgument = useMixed ? 10 : 9;  // after posq, posqCorrection (mixed only) and the eight arrays
    kernel->addArg(bias.getComponent());
    kernel->addArg((int) LatentOnly);
    for (ComputeArray* array : {&work, &featureWork, &latent})
        kernel->addArg(*array);
    kernel->addArg(longForces ? cc.getLongForceBuffer() : cc.getForceBuffers());
    kernel->addArg(cc.getEnergyBuffer());
    boxArgument = componentArgument + 7;  // after component, stage, the three work arrays and the two buffers
    for (int k = 0; k < 3; k++) {
        if (useDouble || useMixed)
            kernel->addArg(mm_double4(0, 0, 0, 0));
        else
            kernel->addArg(mm_float4(0, 0, 0, 0));
    }
}

std::vector<double> CommonCalcVAECVForceKernel::gridBiasParameters() const {
    const LatentGrid& grid = *bias.getGrid();
    std::vector<double> parameters = grid.getMins();
    parameters.insert(parameters.end(), grid.getMaxs().begin(), grid.getMaxs().end());
    for (int d = 0; d < grid.getNumDimensions(); d++)
        parameters.push_back(grid.getSpacing(d));
    parameters.push_back(grid.getWallForceConstant());
    parameters.insert(parameters.end(), grid.getValues().begin(), grid.getValues().end());
    return parameters;
}

std::string CommonCalcVAECVForceKernel::getImplementation() const {
    if (cc.getUseDoublePrecision())
        return "native-double";
    return cc.getUseMixedPrecision() ? "native-mixed" : "native-single";
}

void CommonCalcVAECVForceKernel::updateAtomLocations() {
    // Atoms move between storage slots when the platform reorders them, and their stored positions
    // are shifted by whole periodic boxes when molecules are wrapped; both change only on the host
    // side first, so checking them costs no transfer.
    const std::vector<int>& order = cc.getAtomIndex();
    const int numAtoms = atoms.size();
    bool moved = false;
    for (int i = 0; i < numAtoms && !moved; i++)
        moved = hostDeviceIndex[i] < 0 || order[hostDeviceIndex[i]] != atoms[i];
    if (moved) {
        std::vector<int> slotOfAtom(order.size());
        for (int j = 0; j < (int) order.size(); j++)
            slotOfAtom[order[j]] = j;
        for (int i = 0; i < numAtoms; i++)
            hostDeviceIndex[i] = slotOfAtom[atoms[i]];
        deviceIndex.upload(hostDeviceIndex);
    }
    Vec3 box[3];
    cc.getPeriodicBoxVectors(box[0], box[1], box[2]);
    const std::vector<mm_int4>& cells = cc.getPosCellOffsets();
    std::vector<double>& shift = cellShiftScratch;
    shift.resize(3 * numAtoms);
    for (int i = 0; i < numAtoms; i++) {
        const mm_int4& cell = cells[hostDeviceIndex[i]];
        Vec3 s = box[0] * (-cell.x) + box[1] * (-cell.y) + box[2] * (-cell.z);
        for (int d = 0; d < 3; d++)
            shift[3 * i + d] = s[d];
    }
    if (shift != hostCellShift) {
        hostCellShift = shift;
        cellShift.upload(hostCellShift, true);
    }
}

void CommonCalcVAECVForceKernel::updateBiasParameters(ContextImpl& context) {
    if (biasParameterNames.empty())
        return;
    std::vector<double> values(biasParameterNames.size());
    for (int i = 0; i < (int) values.size(); i++)
        values[i] = context.getParameter(biasParameterNames[i]);
    if (values != hostBiasParameters) {
        hostBiasParameters = values;
        biasParameters.upload(hostBiasParameters, true);
    }
}

void CommonCalcVAECVForceKernel::launch(ContextImpl& context, Stage stage) {
    updateAtomLocations();
    updateBiasParameters(context);
    numModelEvaluations++;
    kernel->setArg(componentArgument, bias.getComponent());
    kernel->setArg(componentArgument + 1, (int) stage);
    if (periodicSystem) {  // the box changes under a barostat
        Vec3 box[3];
        cc.getPeriodicBoxVectors(box[0], box[1], box[2]);
        for (int k = 0; k < 3; k++) {
            if (cc.getUseDoublePrecision() || cc.getUseMixedPrecision())
                kernel->setArg(boxArgument + k, mm_double4(box[k][0], box[k][1], box[k][2], 0));
            else
                kernel->setArg(boxArgument + k, mm_float4((float) box[k][0], (float) box[k][1], (float) box[k][2], 0));
        }
    }
    kernel->execute(workGroupSize, workGroupSize);
}

double CommonCalcVAECVForceKernel::execute(ContextImpl& context, bool includeForces, bool includeEnergy) {
    ContextSelector selector(cc);
    // The energy goes to the platform's energy buffer on the device; returning it would cost a transfer.
    launch(context, includeForces ? EnergyAndForces : Energy);
    return 0.0;
}

std::vector<double> CommonCalcVAECVForceKernel::getCollectiveVariableValues(ContextImpl& context) {
    ContextSelector selector(cc);
    launch(context, LatentOnly);
    std::vector<double> z(numLatent);
    if (cc.getUseDoublePrecision())
        latent.download(z.data());
    else {
        std::vector<float> zFloat(numLatent);
        latent.download(zFloat.data());
        z.assign(zFloat.begin(), zFloat.end());
    }
    for (int k = 0; k < numLatent; k++)
        if (!std::isfinite(z[k]))
            throw OpenMMException("VAECVForce: the model from " + source + " returned a non-finite latent value (z" + std::to_string(k) +
                                  ") for the current positions");
    return z;
}

void CommonCalcVAECVForceKernel::copyParametersToContext(ContextImpl& context, const VAECVForce& force, const std::vector<int>& atoms) {
    bias.setComponent(force.getComponent());
    if (bias.getMode() == VAECVForce::GridBias) {
        ContextSelector selector(cc);
        bias.updateGrid(force.getGridBias());
        hostBiasParameters = gridBiasParameters();
        biasParameters.upload(hostBiasParameters, true);
    }
    this->atoms = atoms;
    hostDeviceIndex.assign(atoms.size(), -1);  // located again at the next launch
}
