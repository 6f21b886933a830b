#include "VAEEncoderSpec.h"
#include "VAEModelBundle.h"
#include <map>

using namespace VAEPlugin;
namespace A = BundleSchema::Attribute;
namespace M = BundleSchema::Model;

namespace {

std::vector<int> intList(const NativeModuleTree& bundle, const char* name) {
    std::vector<int> result;
    for (int64_t v : bundle.integers(name))
        result.push_back((int) v);
    return result;
}

} // namespace

std::vector<int> VAEEncoderSpec::nonPeriodicFeatures() const {
    std::vector<int> result;
    for (int i = 0; i < numFeatures; i++)
        if (!periodic[i])
            result.push_back(i);
    return result;
}

std::vector<int> VAEEncoderSpec::periodicFeatures() const {
    std::vector<int> result;
    for (int i = 0; i < numFeatures; i++)
        if (periodic[i])
            result.push_back(i);
    return result;
}

#ifdef OPENMMVAE_WITH_TORCH
bool VAEEncoderSpec::fromModule(const torch::jit::Module& bundle, VAEEncoderSpec& spec, std::string& whyNot) {
    return fromTree(NativeModuleTree::fromModule(bundle), spec, whyNot);
}
#endif

bool VAEEncoderSpec::fromTree(const NativeModuleTree& bundle, VAEEncoderSpec& spec, std::string& whyNot) {
  try {
    for (const char* name : {A::kFeatureKind, A::kFeatureMean, A::kFeatureScale, A::kNumAtoms, A::kModel})
        if (!bundle.has(name)) {
            whyNot = std::string("the model is not a trainer bundle (no attribute '") + name + "')";
            return false;
        }
    spec = VAEEncoderSpec();
    const std::string& kindName = bundle.string(A::kFeatureKind);
    std::optional<FeatureKind> kind = parseFeatureKind(kindName);
    if (!kind) {
        whyNot = "feature kind '" + kindName + "' has no native implementation";
        return false;
    }
    spec.featureKind = *kind;
    spec.numAtoms = bundle.integer(A::kNumAtoms);
    spec.mean = bundle.array(A::kFeatureMean).values;
    spec.scale = bundle.array(A::kFeatureScale).values;
    spec.numFeatures = spec.mean.size();
    int expectedFeatures = *kind == FeatureKind::Positions || *kind == FeatureKind::Cartesian ? 3 * spec.numAtoms : 2;
    if (*kind == FeatureKind::Cartesian) {
        if (!bundle.has(A::kReference)) {
            whyNot = std::string("the cartesian bundle has no '") + A::kReference + "' buffer";
            return false;
        }
        spec.reference = bundle.array(A::kReference).values;
        if ((int) spec.reference.size() != 3 * spec.numAtoms) {
            whyNot = "the cartesian reference does not match the atom count";
            return false;
        }
    }
    if (*kind == FeatureKind::Bat) {
        for (const char* name : {A::kBatRoot, A::kBatI, A::kBatJ, A::kBatK, A::kBatL, A::kBatTorsionReference, A::kBatFreeRows})
            if (!bundle.has(name)) {
                whyNot = std::string("the bat bundle has no attribute '") + name + "'";
                return false;
            }
        spec.batRoot = intList(bundle, A::kBatRoot);
        spec.batI = intList(bundle, A::kBatI);
        spec.batJ = intList(bundle, A::kBatJ);
        spec.batK = intList(bundle, A::kBatK);
        spec.batL = intList(bundle, A::kBatL);
        spec.batTorsionReference = intList(bundle, A::kBatTorsionReference);
        spec.batFreeRows = intList(bundle, A::kBatFreeRows);
        int rows = spec.batI.size();
        bool valid = spec.batRoot.size() == 3 && (int) spec.batJ.size() == rows && (int) spec.batK.size() == rows &&
                     (int) spec.batL.size() == rows && (int) spec.batTorsionReference.size() == rows;
        for (int list = 0; list < 6 && valid; list++) {
            const std::vector<int>& v = list == 0 ? spec.batRoot : list == 1 ? spec.batI : list == 2 ? spec.batJ
                                      : list == 3 ? spec.batK : list == 4 ? spec.batL : spec.batTorsionReference;
            int limit = list == 5 ? rows : spec.numAtoms;
            for (int x : v)
                valid = valid && x >= 0 && x < limit;
        }
        for (int r : spec.batFreeRows)
            valid = valid && r >= 0 && r < rows;
        if (!bundle.has(A::kBatBondLength)) {
            whyNot = std::string("the bat bundle has no buffer '") + A::kBatBondLength + "'";
            return false;
        }
        spec.batBondLength = bundle.array(A::kBatBondLength).values;
        valid = valid && (int) spec.batBondLength.size() == rows;
        if (!valid) {
            whyNot = "the bat tree attributes are inconsistent";
            return false;
        }
        expectedFeatures = 3 + (int) spec.batFreeRows.size() + 2 * rows;
    }
    if (spec.numFeatures != expectedFeatures || (int) spec.scale.size() != spec.numFeatures) {
        whyNot = "the standardisation does not match the feature kind";
        return false;
    }
    const NativeModuleTree& model = bundle.child(A::kModel);
    if (!model.has(M::kPeriodic) || !model.has(M::kEncoder)) {
        whyNot = "the bundle's model has no 'periodic' flags or 'encoder'";
        return false;
    }
    spec.periodic = model.booleans(M::kPeriodic);
    if ((int) spec.periodic.size() != spec.numFeatures) {
        whyNot = "the number of periodic flags does not match the features";
        return false;
    }
    // The encoder must consist of exactly the layers of the architecture in science.md.
    std::map<std::string, const NativeModuleTree::Array*> parameters;
    for (const auto& [name, array] : model.child(M::kEncoder).arrays())
        if (array.parameter) parameters[name] = &array;
    if (!model.child(M::kEncoder).children().empty()) {
        whyNot = "the encoder has submodules";
        return false;
    }
    const std::vector<std::pair<std::string, bool>> layers = {{M::kHidden1, true}, {M::kHidden2, true}, {M::kMean, false}};
    std::size_t expectedParameters = 2 * (layers.size() + 1);  // + the log-variance head
    if (parameters.size() != expectedParameters || !parameters.count(std::string(M::kLogVar) + M::kWeightSuffix)) {
        whyNot = "the encoder has parameters other than hidden1, hidden2, mean and logvar";
        return false;
    }
    int inputs = spec.numFeatures + (int) spec.periodicFeatures().size();
    for (const auto& layer : layers) {
        auto w = parameters.find(layer.first + M::kWeightSuffix), b = parameters.find(layer.first + M::kBiasSuffix);
        if (w == parameters.end() || b == parameters.end() || w->second->shape.size() != 2 || w->second->shape[1] != inputs ||
            b->second->shape.size() != 1 || b->second->shape[0] != w->second->shape[0]) {
            whyNot = "encoder layer '" + layer.first + "' is missing or has unexpected shape";
            return false;
        }
        Layer l;
        l.inputs = inputs;
        l.outputs = w->second->shape[0];
        l.weight = w->second->values;
        l.bias = b->second->values;
        l.relu = layer.second;
        spec.layers.push_back(l);
        inputs = l.outputs;
    }
    spec.latent = spec.layers.back().outputs;
    // the log-variance head, of hidden2's output like the mean head (for ln q(z|x) of native moves)
    const int hiddenOutputs = spec.layers[1].outputs;
    auto w = parameters.find(std::string(M::kLogVar) + M::kWeightSuffix), b = parameters.find(std::string(M::kLogVar) + M::kBiasSuffix);
    if (b == parameters.end() || w->second->shape.size() != 2 || w->second->shape[0] != spec.latent || w->second->shape[1] != hiddenOutputs ||
        b->second->shape.size() != 1 || b->second->shape[0] != spec.latent) {
        whyNot = "encoder layer 'logvar' is missing or has unexpected shape";
        return false;
    }
    spec.logvarHead.inputs = hiddenOutputs;
    spec.logvarHead.outputs = spec.latent;
    spec.logvarHead.weight = w->second->values;
    spec.logvarHead.bias = b->second->values;
    spec.logvarHead.relu = false;
    return true;
  } catch (const BundleError& e) {  // an attribute missing or of another type
    whyNot = e.what();
    return false;
  }
}
