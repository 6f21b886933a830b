#include "internal/VAEEncoderSpec.h"
#include <map>

using namespace VAEPlugin;

namespace {

std::vector<int> intList(const torch::jit::Module& bundle, const char* name) {
    std::vector<int> result;
    for (const c10::IValue& v : bundle.attr(name).toListRef())
        result.push_back((int) v.toInt());
    return result;
}

std::vector<double> toVector(const torch::Tensor& t) {
    torch::Tensor c = t.detach().to(torch::kCPU, torch::kFloat64).contiguous();
    return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
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

bool VAEEncoderSpec::fromModule(const torch::jit::Module& bundle, VAEEncoderSpec& spec, std::string& whyNot) {
    for (const char* name : {"feature_kind", "feature_mean", "feature_scale", "num_atoms", "model"})
        if (!bundle.hasattr(name)) {
            whyNot = std::string("the model is not a trainer bundle (no attribute '") + name + "')";
            return false;
        }
    spec = VAEEncoderSpec();
    spec.featureKind = bundle.attr("feature_kind").toStringRef();
    const std::string& kind = spec.featureKind;
    if (kind != "xy" && kind != "polar" && kind != "positions" && kind != "cartesian" && kind != "bat") {
        whyNot = "feature kind '" + kind + "' has no native implementation";
        return false;
    }
    spec.numAtoms = bundle.attr("num_atoms").toInt();
    spec.mean = toVector(bundle.attr("feature_mean").toTensor());
    spec.scale = toVector(bundle.attr("feature_scale").toTensor());
    spec.numFeatures = spec.mean.size();
    int expectedFeatures = kind == "positions" || kind == "cartesian" ? 3 * spec.numAtoms : 2;
    if (kind == "cartesian") {
        if (!bundle.hasattr("reference")) {
            whyNot = "the cartesian bundle has no 'reference' buffer";
            return false;
        }
        spec.reference = toVector(bundle.attr("reference").toTensor());
        if ((int) spec.reference.size() != 3 * spec.numAtoms) {
            whyNot = "the cartesian reference does not match the atom count";
            return false;
        }
    }
    if (kind == "bat") {
        for (const char* name : {"bat_root", "bat_i", "bat_j", "bat_k", "bat_l", "bat_torsion_reference", "bat_free_rows"})
            if (!bundle.hasattr(name)) {
                whyNot = std::string("the bat bundle has no attribute '") + name + "'";
                return false;
            }
        spec.batRoot = intList(bundle, "bat_root");
        spec.batI = intList(bundle, "bat_i");
        spec.batJ = intList(bundle, "bat_j");
        spec.batK = intList(bundle, "bat_k");
        spec.batL = intList(bundle, "bat_l");
        spec.batTorsionReference = intList(bundle, "bat_torsion_reference");
        spec.batFreeRows = intList(bundle, "bat_free_rows");
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
    torch::jit::Module model = bundle.attr("model").toModule();
    if (!model.hasattr("periodic") || !model.hasattr("encoder")) {
        whyNot = "the bundle's model has no 'periodic' flags or 'encoder'";
        return false;
    }
    for (const c10::IValue& flag : model.attr("periodic").toListRef())
        spec.periodic.push_back(flag.toBool());
    if ((int) spec.periodic.size() != spec.numFeatures) {
        whyNot = "the number of periodic flags does not match the features";
        return false;
    }
    // The encoder must consist of exactly the layers of the architecture in science.md.
    std::map<std::string, torch::Tensor> parameters;
    for (const auto& p : model.attr("encoder").toModule().named_parameters(true))
        parameters[p.name] = p.value;
    const std::vector<std::pair<std::string, bool>> layers = {{"hidden1", true}, {"hidden2", true}, {"mean", false}};
    std::size_t expectedParameters = 2 * (layers.size() + 1);  // + the log-variance head
    if (parameters.size() != expectedParameters || !parameters.count("logvar_weight")) {
        whyNot = "the encoder has parameters other than hidden1, hidden2, mean and logvar";
        return false;
    }
    int inputs = spec.numFeatures + (int) spec.periodicFeatures().size();
    for (const auto& layer : layers) {
        auto w = parameters.find(layer.first + "_weight"), b = parameters.find(layer.first + "_bias");
        if (w == parameters.end() || b == parameters.end() || w->second.dim() != 2 || w->second.size(1) != inputs ||
            b->second.dim() != 1 || b->second.size(0) != w->second.size(0)) {
            whyNot = "encoder layer '" + layer.first + "' is missing or has unexpected shape";
            return false;
        }
        Layer l;
        l.inputs = inputs;
        l.outputs = w->second.size(0);
        l.weight = toVector(w->second);
        l.bias = toVector(b->second);
        l.relu = layer.second;
        spec.layers.push_back(l);
        inputs = l.outputs;
    }
    spec.latent = spec.layers.back().outputs;
    return true;
}
