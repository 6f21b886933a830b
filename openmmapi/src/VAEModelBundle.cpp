#include "internal/VAEModelBundle.h"
#include "openmm/OpenMMException.h"
#include "openmm/System.h"
#include <cmath>
#include <fstream>
#include <map>
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

int VAEModelBundle::probeLatentSize(int nAtoms) const {
    torch::jit::Module module = createModule();
    std::vector<double> p = probePositions(nAtoms);
    torch::Tensor probe = torch::from_blob(p.data(), {nAtoms, 3}, torch::kFloat64).clone();
    torch::NoGradGuard noGrad;
    return evaluate(module, probe, source).size(0);
}

void VAEModelBundle::checkSystem(const OpenMM::System& system, const std::string& user) const {
    checkSystem(system, user, getMetadataAtoms());
}

void VAEModelBundle::checkSystem(const OpenMM::System& system, const std::string& user, const std::vector<int>& atoms) const {
    if (!hasMetadata())
        return;
    std::vector<int> metadataAtoms = getMetadataAtoms();
    if (!metadataAtoms.empty() && atoms.size() != metadataAtoms.size())
        throw OpenMMException(user + ": the model from " + source + " describes " + std::to_string(metadataAtoms.size()) +
                              " atoms but " + std::to_string(atoms.size()) + " are given");
    int numParticles = system.getNumParticles();
    std::map<int, int> bundleIndex;  // System index -> position in the bundle
    for (int k = 0; k < (int) atoms.size(); k++) {
        if (atoms[k] < 0 || atoms[k] >= numParticles)
            throw OpenMMException(user + ": the model from " + source + " uses atom " + std::to_string(atoms[k]) +
                                  " but the System has " + std::to_string(numParticles) + " particles");
        bundleIndex[atoms[k]] = k;
    }
    // (compared as JSON: a "kind" that is not a string is simply not "bat", where value() would throw)
    if (!metadata.contains("features") || !metadata["features"].is_object() || !metadata["features"].contains("kind") ||
        metadata["features"]["kind"] != "bat")
        return;
    const nlohmann::json& features = metadata["features"];
    // Expected constraints, keyed by the unordered pair of System indices of the atoms used here.
    std::map<std::pair<int, int>, double> expected;
    std::map<int, int> metadataPosition;
    for (int k = 0; k < (int) metadataAtoms.size(); k++)
        metadataPosition[metadataAtoms[k]] = k;
    if (features.contains("constrained_bonds")) {
        const nlohmann::json& bonds = features["constrained_bonds"];
        if (!bonds.is_array())
            throw OpenMMException(user + ": the model from " + source + ": metadata features.constrained_bonds must be a list");
        for (const auto& b : bonds) {
            if (!b.is_array() || b.size() != 3 || !b[0].is_number_integer() || !b[1].is_number_integer() || !b[2].is_number())
                throw OpenMMException(user + ": the model from " + source + ": invalid constrained_bonds entry " + b.dump() +
                                      " (expected [i, j, length_nm])");
            int ends[2];
            for (int e = 0; e < 2; e++) {
                int atom = b[e].get<int>();
                auto position = metadataPosition.find(atom);
                if (position == metadataPosition.end())
                    throw OpenMMException(user + ": the model from " + source + ": constrained_bonds entry " + b.dump() +
                                         " names atom " + std::to_string(atom) + ", which is not one of the bundle's atoms");
                ends[e] = atoms[position->second];
            }
            expected[{std::min(ends[0], ends[1]), std::max(ends[0], ends[1])}] = b[2].get<double>();
        }
    }
    std::set<std::pair<int, int>> found;
    for (int c = 0; c < system.getNumConstraints(); c++) {
        int i, j;
        double length;
        system.getConstraintParameters(c, i, j, length);
        bool hasI = bundleIndex.count(i) > 0, hasJ = bundleIndex.count(j) > 0;
        if (!hasI && !hasJ)
            continue;
        if (hasI != hasJ)
            throw OpenMMException(user + ": the System constrains atom " + std::to_string(hasI ? i : j) + " of the BAT model from " +
                                  source + " to atom " + std::to_string(hasI ? j : i) + ", which is not in the model");
        std::pair<int, int> key(std::min(i, j), std::max(i, j));
        auto e = expected.find(key);
        if (e == expected.end())
            throw OpenMMException(user + ": the System constrains the bond " + std::to_string(key.first) + "-" + std::to_string(key.second) +
                                  " (" + std::to_string(length) + " nm), but the BAT model from " + source +
                                  " treats it as free (trained with other constraints; see --constraints)");
        if (std::fabs(e->second - length) > 1e-4)
            throw OpenMMException(user + ": the bond " + std::to_string(key.first) + "-" + std::to_string(key.second) + " is constrained to " +
                                  std::to_string(length) + " nm in the System but to " + std::to_string(e->second) + " nm in the BAT model from " +
                                  source);
        found.insert(key);
    }
    for (const auto& e : expected)
        if (!found.count(e.first))
            throw OpenMMException(user + ": the BAT model from " + source + " expects the bond " + std::to_string(e.first.first) + "-" +
                                  std::to_string(e.first.second) + " constrained to " + std::to_string(e.second) +
                                  " nm, but the System has no such constraint");
}
