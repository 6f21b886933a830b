#include "InfoCommand.h"

#include "BundleSchema.h"
#include "BundleWriter.h"
#include "CommandRunner.h"
#include "NativeSelfCheck.h"
#include "VAEMCNativeDensities.h"
#include "VAEModelBundle.h"

#include <CLI/CLI.hpp>

#include <cmath>
#include <iostream>
#include <sstream>

namespace VAEPlugin {

namespace {

std::string joined(const nlohmann::json& list, size_t limit = 12) {
    std::ostringstream out;
    size_t i = 0;
    for (const auto& v : list) {
        if (i == limit) {
            out << " ... (" << list.size() << ")";
            break;
        }
        out << (i++ ? " " : "") << (v.is_string() ? v.get<std::string>() : v.dump());
    }
    return out.str();
}

} // namespace

std::string describeBundle(const std::string& path) {
    namespace S = BundleSchema;
    std::shared_ptr<VAEModelBundle> bundle = VAEModelBundle::load(path);
    const nlohmann::json& m = bundle->getMetadata();
    std::ostringstream out;
    out << path << "\n";
    if (!bundle->hasMetadata()) {
        out << "  a TorchScript module without openmm-vae metadata (a foreign CV model): Reference/CPU platforms through TorchScript only\n";
        return out.str();
    }
    out << "  format version: " << m.value(S::Metadata::kFormatVersion, 0) << "; native section: "
        << (bundle->hasNativeSection() ? "yes" : "no") << "; integrity record: "
        << (bundle->hasIntegrityRecord() ? "verified (SHA-256 of every member)" : "none (written before format 2)") << "\n";
    const std::vector<int> atoms = bundle->getMetadataAtoms();
    out << "  atoms: " << atoms.size() << " (System indices " << joined(m[S::Metadata::kAtoms]) << ")\n";
    if (m.contains(S::Metadata::kFeatures)) {
        const nlohmann::json& f = m[S::Metadata::kFeatures];
        int periodic = 0;
        for (const auto& p : f.value(S::Features::kPeriodic, nlohmann::json::array())) periodic += p.is_boolean() && p.get<bool>();
        out << "  features: " << f.value(S::Features::kKind, std::string("?")) << ", " << f.value(S::Features::kPeriodic, nlohmann::json::array()).size()
            << " (" << periodic << " periodic)";
        if (f.contains(S::Features::kConstrainedBonds)) out << ", " << f[S::Features::kConstrainedBonds].size() << " constrained bonds left out";
        out << "\n";
    }
    out << "  latent: " << bundle->getMetadataLatentSize() << "\n";
    if (m.contains(S::Metadata::kArchitecture)) {
        const nlohmann::json& a = m[S::Metadata::kArchitecture];
        out << "  architecture: encoder " << a.value(S::Architecture::kNumFeatures, 0) << " -> " << a.value(S::Architecture::kHidden, 0)
            << " -> " << a.value(S::Architecture::kHidden, 0) << " -> " << a.value(S::Architecture::kLatent, 0) << " ("
            << a.value(S::Architecture::kEncoderActivation, std::string("?")) << "); decoder "
            << a.value(S::Architecture::kDecoder, std::string("?")) << " (" << a.value(S::Architecture::kDecoderActivation, std::string("?"))
            << ", " << a.value(S::Architecture::kMixtureComponents, 1) << " mixture component(s)); prior: RealNVP spline flow (hidden "
            << a.value(S::Architecture::kFlowHidden, 0) << ")\n";
        if (a.contains(S::Architecture::kRotorMultiplicity)) {
            std::ostringstream rotors;
            int i = 0;
            for (const auto& k : a[S::Architecture::kRotorMultiplicity]) {
                if (k.is_number_integer() && k.get<int>() > 1) rotors << (rotors.tellp() > 0 ? ", " : "") << "feature " << i << ": " << k.get<int>();
                i++;
            }
            if (rotors.tellp() > 0) out << "  rotor multiplicity: " << rotors.str() << "\n";
        }
    }
    const nlohmann::json temperature = m.value(S::Metadata::kTemperature, nlohmann::json());
    out << "  trained at: ";
    if (temperature.is_number())
        out << temperature.get<double>() << " K";
    else
        out << "kT units";
    out << ", beta " << m.value(S::Metadata::kBeta, 0.0) << "\n";
    if (m.contains(S::Metadata::kProvenance) && m[S::Metadata::kProvenance].is_object()) {
        const nlohmann::json& p = m[S::Metadata::kProvenance];
        out << "  provenance:";
        for (const char* key : {S::Provenance::kSystem, S::Provenance::kData, S::Provenance::kSamples, S::Provenance::kSeed,
                                S::Provenance::kEpochs, S::Provenance::kTrainer, S::Provenance::kDate})
            if (p.contains(key)) out << " " << key << " " << (p[key].is_string() ? p[key].get<std::string>() : p[key].dump());
        if (p.contains(S::Provenance::kFinalLosses) && p[S::Provenance::kFinalLosses].is_object())
            out << "; final loss " << p[S::Provenance::kFinalLosses].value(S::Loss::kTotal, nlohmann::json()).dump()
                << " (validation " << p[S::Provenance::kFinalLosses].value(S::Loss::kValTotal, nlohmann::json()).dump() << ")";
        out << "\n";
    }
    // whether it runs natively: what the plugin decides when a Context is created
    NativeSelfCheck check = checkNativeAgainstBundle(*bundle, atoms.size());
    out << "  native CV (Reference/CPU without TorchScript, GPU kernels): " << (check.agrees() ? "yes" : "no: " + check.whyNot) << "\n";
    std::string whyNoTree;
    std::shared_ptr<const NativeModuleTree> tree = bundle->getModuleTree(&whyNoTree);
    const bool nativeMoves = tree && VAEMCNativeDensities::tryCreate(*tree, bundle->getCheckRecord(atoms.size())) != nullptr;
    out << "  native VAE-MC densities: " << (nativeMoves ? "yes" : "no") << "\n";
    out << "  runs without LibTorch (OPENMMVAE_WITH_TORCH=OFF): "
        << (bundle->hasNativeSection() && check.agrees() ? "yes" : "no (rewrite it with 'openmm-vae upgrade')") << "\n";
    return out.str();
}

void addInfoCommand(CLI::App& app) {
    auto model = std::make_shared<std::string>();
    CLI::App* sub = app.add_subcommand("info", "Describe a model bundle: format, integrity, features, architecture, provenance, native support");
    sub->add_option("model", *model, "The model bundle (model.pt)")->required();
    sub->callback([model]() {
        runCommand("info", 1, [&]() {
            std::cout << describeBundle(*model);
            return 0;
        });
    });
}

void addUpgradeCommand(CLI::App& app) {
    auto paths = std::make_shared<std::pair<std::string, std::string>>();
    CLI::App* sub = app.add_subcommand("upgrade", "Rewrite a bundle of an earlier format in the current one (native section, integrity record)");
    sub->add_option("old", paths->first, "The bundle to read")->required();
    sub->add_option("new", paths->second, "Where to write the upgraded bundle")->required();
    sub->callback([paths]() {
        runCommand("upgrade", 1, [&]() {
            std::shared_ptr<VAEModelBundle> old = VAEModelBundle::load(paths->first);
            if (!old->hasMetadata())
                throw std::invalid_argument(paths->first + " has no openmm-vae metadata (a foreign TorchScript model): nothing to upgrade to");
            nlohmann::json metadata = old->getMetadata();
            metadata[BundleSchema::Metadata::kFormatVersion] = BundleSchema::kFormatVersion;
            saveBundle(old->createModule(), metadata, paths->second);
            std::shared_ptr<VAEModelBundle> upgraded = VAEModelBundle::load(paths->second);
            const int n = static_cast<int>(old->getMetadataAtoms().size());
            if (upgraded->getCheckRecord(n, false).probeLatent != old->getCheckRecord(n, false).probeLatent)
                throw std::runtime_error("the upgraded bundle " + paths->second + " gives another CV than " + paths->first);
            std::cout << "openmm-vae upgrade: wrote " << paths->second << " (format " << BundleSchema::kFormatVersion << ")\n"
                      << describeBundle(paths->second);
            return 0;
        });
    });
}

} // namespace VAEPlugin
