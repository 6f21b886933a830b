#include "internal/VAEModelBundle.h"
#include "openmm/OpenMMException.h"
#include <fstream>
#include <set>
#include <sstream>

using namespace VAEPlugin;
using OpenMM::OpenMMException;

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
    return "metadata.json";
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
            throw OpenMMException("VAECVForce: empty model path");
        bundle->source = "'" + pathOrBytes + "'";
        std::ifstream file(pathOrBytes, std::ios::binary);
        if (!file)
            throw OpenMMException("VAE model file " + bundle->source + " cannot be opened (missing or unreadable)");
        std::ostringstream content;
        content << file.rdbuf();
        if (file.bad())
            throw OpenMMException("VAE model file " + bundle->source + " could not be read");
        bundle->bytes = content.str();
        if (!looksLikeArchive(bundle->bytes))
            throw OpenMMException("VAE model file " + bundle->source + " is not a TorchScript archive (no zip signature)");
    }
    std::istringstream in(bundle->bytes);
    torch::jit::ExtraFilesMap extra{{metadataFileName(), ""}};
    torch::jit::Module module;
    try {
        module = torch::jit::load(in, torch::kCPU, extra);
    }
    catch (const std::exception& e) {
        throw OpenMMException("VAE model from " + bundle->source + " is not a valid TorchScript archive: " + summarizeError(e));
    }
    if (!module.find_method("forward"))
        throw OpenMMException("VAE model from " + bundle->source + " has no forward(positions) method");
    bundle->metadataText = extra[metadataFileName()];
    if (!bundle->metadataText.empty()) {
        try {
            bundle->metadata = nlohmann::json::parse(bundle->metadataText);
        }
        catch (const std::exception& e) {
            throw OpenMMException("VAE model from " + bundle->source + ": metadata.json is not valid JSON: " + e.what());
        }
        if (!bundle->metadata.is_object())
            throw OpenMMException("VAE model from " + bundle->source + ": metadata.json is not a JSON object");
        // Validate the fields the plugin relies on, so a bad bundle fails here and not inside a Context.
        bundle->getMetadataLatentSize();
        bundle->getMetadataAtoms();
    }
    return bundle;
}

int VAEModelBundle::getMetadataLatentSize() const {
    if (!metadata.contains("latent"))
        return -1;
    const nlohmann::json& latent = metadata["latent"];
    if (!latent.is_number_integer() || latent.get<long long>() < 1 || latent.get<long long>() > 1000)
        throw OpenMMException("VAE model from " + source + ": metadata 'latent' must be a positive integer, got " + latent.dump());
    return latent.get<int>();
}

std::vector<int> VAEModelBundle::getMetadataAtoms() const {
    std::vector<int> atoms;
    if (!metadata.contains("atoms"))
        return atoms;
    const nlohmann::json& list = metadata["atoms"];
    if (!list.is_array())
        throw OpenMMException("VAE model from " + source + ": metadata 'atoms' must be a list of atom indices");
    for (const auto& a : list) {
        if (!a.is_number_integer() || a.get<long long>() < 0 || a.get<long long>() > 2147483647LL)
            throw OpenMMException("VAE model from " + source + ": metadata 'atoms' holds an invalid index " + a.dump());
        atoms.push_back(a.get<int>());
    }
    if (std::set<int>(atoms.begin(), atoms.end()).size() != atoms.size())
        throw OpenMMException("VAE model from " + source + ": metadata 'atoms' repeats an atom index");
    return atoms;
}

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
        throw OpenMMException("VAE model from " + source + ": forward(positions[" + std::to_string(positions.size(0)) +
                              ", 3]) failed: " + summarizeError(e));
    }
    if (!result.isTensor())
        throw OpenMMException("VAE model from " + source + ": forward must return a Tensor of shape [L], got " + result.tagKind());
    torch::Tensor z = result.toTensor();
    if (z.dim() != 1 || z.size(0) < 1)
        throw OpenMMException("VAE model from " + source + ": forward must return a Tensor of shape [L], got shape " + c10::str(z.sizes()));
    if (!z.is_floating_point())
        throw OpenMMException("VAE model from " + source + ": forward must return a floating point Tensor");
    return z;
}

std::vector<double> VAEModelBundle::probePositions(int nAtoms) {
    // A deterministic, non-degenerate configuration: atoms on a slightly irregular line of 0.15 nm steps.
    std::vector<double> p(3 * nAtoms);
    for (int i = 0; i < nAtoms; i++) {
        p[3 * i] = 0.1 + 0.15 * i;
        p[3 * i + 1] = 0.05 * (i % 3) + 0.02;
        p[3 * i + 2] = 0.03 * (i % 5);
    }
    return p;
}

int VAEModelBundle::probeLatentSize(int nAtoms) const {
    torch::jit::Module module = createModule();
    std::vector<double> p = probePositions(nAtoms);
    torch::Tensor probe = torch::from_blob(p.data(), {nAtoms, 3}, torch::kFloat64).clone();
    torch::NoGradGuard noGrad;
    return evaluate(module, probe, source).size(0);
}
