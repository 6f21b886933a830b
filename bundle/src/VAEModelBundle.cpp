#include "VAEModelBundle.h"
#include "BundleSchema.h"
#include "BundleArchive.h"
#include <cmath>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

using namespace VAEPlugin;

std::string VAEModelBundle::summarizeError(const std::exception& e) {
    // TorchScript interpreter errors start with a generic line and end with the actual error.
    std::istringstream in(e.what());
    std::string line, first, last;
    while (std::getline(in, line)) {
        if (line.find_first_not_of(" \t") == std::string::npos)
            continue;
        if (first.empty())
            first = line;
        last = line;
    }
    if (first.find("The following operation failed") != std::string::npos)
        return last;
    return first;
}

const char* VAEModelBundle::metadataFileName() {
    return BundleSchema::kMetadataFile;
}

bool VAEModelBundle::looksLikeArchive(const std::string& s) {
    return s.size() >= 4 && s.compare(0, 4, "PK\x03\x04", 4) == 0;
}

std::shared_ptr<VAEModelBundle> VAEModelBundle::load(const std::string& pathOrBytes) {
    std::shared_ptr<VAEModelBundle> bundle(new VAEModelBundle());
    if (looksLikeArchive(pathOrBytes)) {
        bundle->bytes = pathOrBytes;
        bundle->source = "model bytes";
    }
    else {
        if (pathOrBytes.empty())
            throw BundleError("VAECVForce: empty model path");
        bundle->source = "'" + pathOrBytes + "'";
        std::ifstream file(pathOrBytes, std::ios::binary);
        if (!file)
            throw BundleError("VAE model file " + bundle->source + " cannot be opened (missing or unreadable)");
        std::ostringstream content;
        content << file.rdbuf();
        if (file.bad())
            throw BundleError("VAE model file " + bundle->source + " could not be read");
        bundle->bytes = content.str();
        if (!looksLikeArchive(bundle->bytes))
            throw BundleError("VAE model file " + bundle->source + " is not a TorchScript archive (no zip signature)");
    }
    // The container first: every member checked against the integrity record before anything is parsed.
    BundleArchive archive(bundle->bytes, bundle->source);
    archive.verifyIntegrity();
    bundle->integrityRecord = archive.hasIntegrityRecord();
    const std::string extra = "extra/";
    if (archive.has(extra + metadataFileName()))
        bundle->metadataText = archive.read(extra + metadataFileName());
#ifdef OPENMMVAE_WITH_TORCH
    {
        std::istringstream in(bundle->bytes);
        torch::jit::Module module;
        try {
            module = torch::jit::load(in, torch::kCPU);
        }
        catch (const std::exception& e) {
            throw BundleError("VAE model from " + bundle->source + " is not a valid TorchScript archive: " + summarizeError(e));
        }
        if (!module.find_method(BundleSchema::Method::kForward))
            throw BundleError("VAE model from " + bundle->source + " has no forward(positions) method");
    }
#endif
    if (!bundle->metadataText.empty()) {
        try {
            bundle->metadata = nlohmann::json::parse(bundle->metadataText);
        }
        catch (const std::exception& e) {
            throw BundleError("VAE model from " + bundle->source + ": metadata.json is not valid JSON: " + e.what());
        }
        if (!bundle->metadata.is_object())
            throw BundleError("VAE model from " + bundle->source + ": metadata.json is not a JSON object");
        // Validate the fields the plugin relies on, so a bad bundle fails here and not inside a Context.
        bundle->getMetadataLatentSize();
        bundle->getMetadataAtoms();
    }
    if (archive.has(extra + BundleSchema::kNativeFile)) {
        nlohmann::json description;
        try {
            description = nlohmann::json::parse(archive.read(extra + BundleSchema::kNativeFile));
        }
        catch (const nlohmann::json::exception& e) {
            throw BundleError("VAE model from " + bundle->source + ": its native section is not valid JSON: " + e.what());
        }
        bundle->nativeTree = std::make_shared<NativeModuleTree>(
            NativeModuleTree::read(description, archive.read(extra + BundleSchema::kNativeDataFile), bundle->source));
        if (description.contains("checks"))
            bundle->recordedChecks = BundleCheckRecord::fromJson(description["checks"], bundle->source);
    }
    else if (!hasTorchScript())
        throw BundleError("VAE model from " + bundle->source + " has no native section (a bundle written before openmm-vae format 2, "
                          "or a TorchScript model from elsewhere), and this build of openmm-vae has no LibTorch "
                          "(OPENMMVAE_WITH_TORCH=OFF), so it cannot evaluate it. Rewrite it with 'openmm-vae upgrade' in a build "
                          "with LibTorch, or use such a build.");
    return bundle;
}

bool VAEModelBundle::hasTorchScript() {
#ifdef OPENMMVAE_WITH_TORCH
    return true;
#else
    return false;
#endif
}

std::shared_ptr<const NativeModuleTree> VAEModelBundle::getModuleTree(std::string* whyNot) const {
    if (nativeTree)
        return nativeTree;
    std::lock_guard<std::mutex> lock(treeMutex);
#ifdef OPENMMVAE_WITH_TORCH
    if (!moduleTree && moduleTreeWhyNot.empty()) {
        try {
            moduleTree = std::make_shared<NativeModuleTree>(NativeModuleTree::fromModule(createModule()));
        }
        catch (const std::exception& e) {
            moduleTreeWhyNot = e.what();
        }
    }
#else
    moduleTreeWhyNot = "it has no native section";
#endif
    if (whyNot != nullptr) *whyNot = moduleTreeWhyNot;
    return moduleTree;
}

BundleCheckRecord VAEModelBundle::getCheckRecord(int nAtoms, bool withDensities) const {
#ifdef OPENMMVAE_WITH_TORCH
    torch::jit::Module module = createModule();
    return BundleCheckRecord::fromModule(module, nAtoms, source, withDensities);
#else
    if (!recordedChecks)
        throw BundleError("VAE model from " + source + ": its native section has no check record");
    if (recordedChecks->probeAtoms != nAtoms)
        throw BundleError("VAE model from " + source + " was checked for " + std::to_string(recordedChecks->probeAtoms) +
                          " atoms, not " + std::to_string(nAtoms));
    BundleCheckRecord record = *recordedChecks;
    record.hasDensities = record.hasDensities && withDensities;
    return record;
#endif
}

int VAEModelBundle::getMetadataLatentSize() const {
    if (!metadata.contains(BundleSchema::Metadata::kLatent))
        return -1;
    const nlohmann::json& latent = metadata[BundleSchema::Metadata::kLatent];
    if (!latent.is_number_integer() || latent.get<long long>() < 1 || latent.get<long long>() > 1000)
        throw BundleError("VAE model from " + source + ": metadata 'latent' must be a positive integer, got " + latent.dump());
    return latent.get<int>();
}

std::vector<int> VAEModelBundle::getMetadataAtoms() const {
    std::vector<int> atoms;
    if (!metadata.contains(BundleSchema::Metadata::kAtoms))
        return atoms;
    const nlohmann::json& list = metadata[BundleSchema::Metadata::kAtoms];
    if (!list.is_array())
        throw BundleError("VAE model from " + source + ": metadata 'atoms' must be a list of atom indices");
    for (const auto& a : list) {
        if (!a.is_number_integer() || a.get<long long>() < 0 || a.get<long long>() > 2147483647LL)
            throw BundleError("VAE model from " + source + ": metadata 'atoms' holds an invalid index " + a.dump());
        atoms.push_back(a.get<int>());
    }
    if (std::set<int>(atoms.begin(), atoms.end()).size() != atoms.size())
        throw BundleError("VAE model from " + source + ": metadata 'atoms' repeats an atom index");
    return atoms;
}

#ifdef OPENMMVAE_WITH_TORCH
torch::jit::Module VAEModelBundle::createModule() const {
    std::istringstream in(bytes);
    torch::jit::Module module = torch::jit::load(in, torch::kCPU);
    module.to(torch::kFloat64);
    module.eval();
    return module;
}

torch::Tensor VAEModelBundle::evaluate(torch::jit::Module& module, const torch::Tensor& positions, const std::string& source) {
    torch::IValue result;
    try {
        result = module.forward({positions});
    }
    catch (const std::exception& e) {
        throw BundleError("VAE model from " + source + ": forward(positions[" + std::to_string(positions.size(0)) +
                              ", 3]) failed: " + summarizeError(e));
    }
    if (!result.isTensor())
        throw BundleError("VAE model from " + source + ": forward must return a Tensor of shape [L], got " + result.tagKind());
    torch::Tensor z = result.toTensor();
    if (z.dim() != 1 || z.size(0) < 1)
        throw BundleError("VAE model from " + source + ": forward must return a Tensor of shape [L], got shape " + c10::str(z.sizes()));
    if (!z.is_floating_point())
        throw BundleError("VAE model from " + source + ": forward must return a floating point Tensor");
    return z;
}

#endif

std::vector<double> VAEModelBundle::probePositions(int nAtoms) {
    // A deterministic, non-degenerate configuration: atoms on an irregular line of 0.15 nm steps.
    // The offsets are trigonometric, not periodic in i, so no three atoms are collinear (a periodic
    // pattern made atoms i, i + 6, i + 12 collinear, where BAT torsions are undefined).
    std::vector<double> p(3 * nAtoms);
    for (int i = 0; i < nAtoms; i++) {
        p[3 * i] = 0.1 + 0.15 * i;
        p[3 * i + 1] = 0.02 + 0.05 * std::sin(1.7 * i);
        p[3 * i + 2] = 0.03 * std::cos(2.3 * i);
    }
    return p;
}



std::optional<FeatureKind> VAEModelBundle::getFeatureKind() const {
    namespace S = BundleSchema;
    // (a "kind" that is missing or not a string names no kind; never a type_error)
    if (!metadata.is_object() || !metadata.contains(S::Metadata::kFeatures) || !metadata[S::Metadata::kFeatures].is_object())
        return std::nullopt;
    const nlohmann::json& features = metadata[S::Metadata::kFeatures];
    if (!features.contains(S::Features::kKind) || !features[S::Features::kKind].is_string())
        return std::nullopt;
    return parseFeatureKind(features[S::Features::kKind].get<std::string>());
}

std::vector<VAEModelBundle::ConstrainedBond> VAEModelBundle::getConstrainedBonds() const {
    namespace S = BundleSchema;
    std::vector<ConstrainedBond> result;
    if (getFeatureKind() != FeatureKind::Bat)
        return result;
    const nlohmann::json& features = metadata[S::Metadata::kFeatures];
    if (!features.contains(S::Features::kConstrainedBonds))
        return result;
    const nlohmann::json& bonds = features[S::Features::kConstrainedBonds];
    if (!bonds.is_array())
        throw BundleError("the model from " + source + ": metadata features." + S::Features::kConstrainedBonds + " must be a list");
    for (const auto& b : bonds) {
        if (!b.is_array() || b.size() != 3 || !b[0].is_number_integer() || !b[1].is_number_integer() || !b[2].is_number())
            throw BundleError("the model from " + source + ": invalid " + S::Features::kConstrainedBonds + " entry " + b.dump() +
                              " (expected [i, j, length_nm])");
        result.push_back({b[0].get<int>(), b[1].get<int>(), b[2].get<double>(), b.dump()});
    }
    return result;
}
