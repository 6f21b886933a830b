// The bundle module, its methods and its metadata.json: everything that makes a model bundle.
#include "BundleWriter.h"

#include "BundleArchive.h"
#include "BundleCheckRecord.h"
#include "FeatureMaps.h"
#include "NativeModuleTree.h"

#include <stdexcept>

namespace VAEPlugin {

namespace {

using namespace BundleSchema;

// The bundle's own methods over the model's (standardisation, raw-feature densities, the CV).
const char* kCommonSource = R"TS(
def standardize(self, x: Tensor) -> Tensor:
    return (x - self.feature_mean) / self.feature_scale

def unstandardize(self, x: Tensor) -> Tensor:
    return x * self.feature_scale + self.feature_mean

def log_scale_sum(self) -> Tensor:
    return torch.sum(torch.log(self.feature_scale))

def encode(self, x: Tensor) -> Tuple[Tensor, Tensor]:
    return self.model.encode(self.standardize(x))

def encoder_log_prob(self, z: Tensor, mu: Tensor, logvar: Tensor) -> Tensor:
    return self.model.encoder_log_prob(z, mu, logvar)

def prior_forward(self, eps: Tensor) -> Tuple[Tensor, Tensor]:
    return self.model.prior_forward(eps)

def prior_inverse(self, z: Tensor) -> Tuple[Tensor, Tensor]:
    return self.model.prior_inverse(z)

def prior_log_prob(self, z: Tensor) -> Tensor:
    return self.model.prior_log_prob(z)

def prior_sample(self, eps: Tensor) -> Tensor:
    return self.model.prior_sample(eps)

def decoder_log_prob(self, x: Tensor, z: Tensor) -> Tensor:
    return self.model.decoder_log_prob(self.standardize(x), z) - self.log_scale_sum()

def decoder_sample(self, z: Tensor, noise: Tensor) -> Tensor:
    return self.unstandardize(self.model.decoder_sample(z, noise))

def latent_mean(self, positions: Tensor) -> Tensor:
    features, log_jacobian = self.featurize(positions)
    mu, logvar = self.encode(features)
    return mu

def forward(self, positions: Tensor) -> Tensor:
    assert positions.dim() == 2, "VAE bundle: forward expects positions of shape [n, 3], got " + str(positions.size())
    return self.latent_mean(positions.unsqueeze(0)).squeeze(0)
)TS";

} // namespace

std::string bundleSource(FeatureKind kind) {
    return kCommonSource + featureSource(kind);
}

torch::jit::Module makeBundle(const torch::jit::Module& model, const FeatureSpec& features,
                              const std::vector<double>& featureMean, const std::vector<double>& featureScale) {
    torch::jit::Module copy = model.deepcopy();
    copy.to(torch::kCPU);
    copy.to(torch::kFloat64);
    copy.eval();
    torch::jit::Module bundle("VAEBundle");
    bundle.register_module(Attribute::kModel, copy);
    bundle.register_buffer(Attribute::kFeatureMean, torch::tensor(featureMean, torch::kFloat64));
    bundle.register_buffer(Attribute::kFeatureScale, torch::tensor(featureScale, torch::kFloat64));
    bundle.register_attribute(Attribute::kLatent, c10::IntType::get(), copy.attr(Model::kLatent));
    addFeatureMembers(bundle, features);
    bundle.define(bundleSource(features.kind));
    bundle.eval();
    return bundle;
}

nlohmann::json featuresMetadata(const FeatureSpec& spec) {
    nlohmann::json j = {{Features::kKind, featureKindName(spec.kind)}, {Features::kPeriodic, spec.periodic}, {Features::kNames, spec.names}};
    if (spec.kind == FeatureKind::Cartesian) {
        nlohmann::json ref = nlohmann::json::array();
        const auto& r = spec.reference;
        for (size_t a = 0; a < r.size() / 3; a++) ref.push_back({r[3 * a], r[3 * a + 1], r[3 * a + 2]});
        j[Features::kReference] = "mean of the training frames after a Kabsch fit of each onto the first (nm)";
        j[Features::kReferencePositions] = ref;
        j[Features::kAlignment] = "kabsch, equal weights, all selected atoms";
    } else if (spec.kind == FeatureKind::Bat) {
        const BatTree& bat = spec.bat;
        auto system = [&](int local) { return spec.atoms[local]; };
        j[Features::kConstraints] = spec.constraints;
        nlohmann::json constrained = nlohmann::json::array(), tree = nlohmann::json::array();
        for (size_t r = 0; r < bat.rows.size(); r++) {
            const auto& row = bat.rows[r];
            tree.push_back({system(row[0]), system(row[1]), system(row[2]), system(row[3])});
            if (bat.constrained[r]) constrained.push_back({system(row[0]), system(row[1]), bat.bondLength[r]});
        }
        j[Features::kConstrainedBonds] = constrained;
        j[Features::kRoot] = {system(bat.root[0]), system(bat.root[1]), system(bat.root[2])};
        j[Features::kTree] = tree;
        j[Features::kTorsionReference] = bat.torsionReference;
        j[Features::kLogJacobian] = "sum over free bonds 2 ln r + sum over angles ln sin(theta)";
    }
    return j;
}

nlohmann::json bundleMetadata(const BundleContents& c) {
    const FeatureSpec& f = c.features;
    std::vector<int> rotorMultiplicity = c.architecture.rotorMultiplicity;
    if (rotorMultiplicity.empty())
        rotorMultiplicity.assign(f.numFeatures(), 1);
    if (static_cast<int>(rotorMultiplicity.size()) != f.numFeatures())
        throw std::invalid_argument("bundleMetadata: rotor multiplicity has " + std::to_string(rotorMultiplicity.size()) +
                                    " entries for " + std::to_string(f.numFeatures()) + " features");
    nlohmann::json meta;
    meta[Metadata::kFormatVersion] = kFormatVersion;
    meta[Metadata::kAtoms] = f.atoms;
    meta[Metadata::kLatent] = c.latent;
    meta[Metadata::kFeatures] = featuresMetadata(f);
    meta[Metadata::kStandardization] = {{Architecture::kMean, c.featureMean}, {Architecture::kScale, c.featureScale}};
    meta[Metadata::kArchitecture] = {{Architecture::kHidden, c.architecture.hidden},
                                     {Architecture::kFlowHidden, c.architecture.flowHidden},
                                     {Architecture::kDecoder, decoderKindName(c.architecture.decoder)},
                                     {Architecture::kNumFeatures, f.numFeatures()},
                                     {Architecture::kLatent, c.latent},
                                     {Architecture::kEncoderActivation, "relu"},
                                     {Architecture::kDecoderActivation, "tanh"},
                                     {Architecture::kMixtureComponents, c.architecture.mixtureComponents},
                                     {Architecture::kRotorMultiplicity, rotorMultiplicity}};
    meta[Metadata::kTemperature] = c.temperature ? nlohmann::json(*c.temperature) : nlohmann::json(nullptr);
    meta[Metadata::kBeta] = c.beta;
    meta[Metadata::kProvenance] = c.provenance;
    return meta;
}

void saveBundle(const torch::jit::Module& bundle, const nlohmann::json& metadata, const std::string& path) {
    // The native section: the module's attributes as plain data and what its methods give on the check inputs.
    nlohmann::json native;
    std::string nativeData;
    torch::jit::Module module = bundle.deepcopy();
    module.to(torch::kFloat64);
    module.eval();
    NativeModuleTree::fromModule(module).write(native, nativeData);
    const int numAtoms = metadata.contains(Metadata::kAtoms) ? static_cast<int>(metadata[Metadata::kAtoms].size()) : 0;
    if (numAtoms > 0)
        native["checks"] = BundleCheckRecord::fromModule(module, numAtoms, "the bundle being written").toJson();
    torch::jit::ExtraFilesMap extra{{kMetadataFile, metadata.dump(2)}, {kNativeFile, native.dump()}, {kNativeDataFile, nativeData}};
    try {
        bundle.save(path, extra);
    } catch (const std::exception& e) {
        throw std::runtime_error("cannot write the model bundle " + path + ": " + e.what());
    }
    BundleArchive::addIntegrityRecord(path);
}

void writeBundle(const BundleContents& contents, const std::string& path) {
    saveBundle(makeBundle(contents.model, contents.features, contents.featureMean, contents.featureScale),
               bundleMetadata(contents), path);
}

} // namespace VAEPlugin
