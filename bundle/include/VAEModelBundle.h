#ifndef OPENMM_VAE_MODEL_BUNDLE_H_
#define OPENMM_VAE_MODEL_BUNDLE_H_

#include "BundleCheckRecord.h"
#include "BundleSchema.h"
#include "NativeModuleTree.h"
#include <nlohmann/json.hpp>
#ifdef OPENMMVAE_WITH_TORCH
#include <torch/script.h>
#endif
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace VAEPlugin {

/** What the bundle floor throws for a file or model it cannot use; the plugin reports it as an OpenMMException. */
class BundleError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/**
 * The one reader of model bundles (design.md): a model bundle held in memory: the bytes of a TorchScript archive plus its parsed metadata
 * (the extra file "metadata.json" written by the trainer; absent for foreign models) and, from format 2 on, its native section.
 * Loading verifies the integrity record (format 2: the SHA-256 of every member) and, with LibTorch, that the bytes are a
 * TorchScript archive with a forward method. Without LibTorch (OPENMMVAE_WITH_TORCH=OFF) only bundles with a native section load.
 */
class VAEModelBundle {
public:
    /** Name of the metadata file inside the archive. */
    static const char* metadataFileName();
    /** Load from a path, or from archive bytes (a string starting with the zip signature). */
    static std::shared_ptr<VAEModelBundle> load(const std::string& pathOrBytes);
    /** True if the string is the content of a zip archive rather than a path. */
    static bool looksLikeArchive(const std::string& pathOrBytes);

    const std::string& getBytes() const { return bytes; }
    const std::string& getMetadataText() const { return metadataText; }
    const nlohmann::json& getMetadata() const { return metadata; }
    bool hasMetadata() const { return !metadataText.empty(); }
    /** Where the model came from, for messages: the file path or "model bytes". */
    const std::string& getSource() const { return source; }
    /** Latent size from the metadata, or -1 if it does not say. */
    int getMetadataLatentSize() const;
    /** Atom indices from the metadata (empty if it does not say). */
    std::vector<int> getMetadataAtoms() const;
    /** The feature kind named by the metadata, or none (no metadata, or a kind this build does not know). */
    std::optional<FeatureKind> getFeatureKind() const;
    /** A bond the BAT features leave out because the training System constrained it (metadata, System indices). */
    struct ConstrainedBond {
        int atom1, atom2;
        double length;       ///< nm
        std::string entry;   ///< the metadata entry as written, for messages
    };
    /** The constrained bonds of a `bat` bundle's metadata (empty for other kinds); BundleError if malformed. */
    std::vector<ConstrainedBond> getConstrainedBonds() const;
    /** Whether the file carries a native section (format 2). */
    bool hasNativeSection() const { return nativeTree != nullptr; }
    /** Whether the file carries an integrity record (format 2); it was verified when loading. */
    bool hasIntegrityRecord() const { return integrityRecord; }
    /**
     * The module's attributes as plain data, what the native evaluators are described from: the native
     * section, else (with LibTorch) read from the TorchScript module once. Null when there is none
     * (without LibTorch and no native section; a module whose attributes cannot be held); whyNot says why.
     */
    std::shared_ptr<const NativeModuleTree> getModuleTree(std::string* whyNot = nullptr) const;
    /**
     * What the bundle's own methods give on the check inputs for a probe of nAtoms atoms: with LibTorch
     * computed from the module (BundleError if forward fails or returns no [L] tensor); without, the
     * record of the native section (BundleError if it was written for another atom count).
     */
    BundleCheckRecord getCheckRecord(int nAtoms, bool withDensities = true) const;
    /** Whether this build can evaluate TorchScript (OPENMMVAE_WITH_TORCH). */
    static bool hasTorchScript();
    /** The probe configuration ([nAtoms * 3], nm) used to check models when a Context is created. */
    static std::vector<double> probePositions(int nAtoms);
#ifdef OPENMMVAE_WITH_TORCH
    /** A fresh module in double precision, in eval mode, independent of any other copy. */
    torch::jit::Module createModule() const;
    /** Run forward on positions [n,3] (double) and check the result is a 1-D tensor. */
    static torch::Tensor evaluate(torch::jit::Module& module, const torch::Tensor& positions, const std::string& source);
#endif
    /** The informative line of a LibTorch/TorchScript error message. */
    static std::string summarizeError(const std::exception& e);
private:
    VAEModelBundle() = default;
    std::string bytes, metadataText, source;
    nlohmann::json metadata;
    std::shared_ptr<const NativeModuleTree> nativeTree;  // of the native section
    std::optional<BundleCheckRecord> recordedChecks;     // of the native section
    bool integrityRecord = false;
    mutable std::mutex treeMutex;                        // guards the tree read from the module
    mutable std::shared_ptr<const NativeModuleTree> moduleTree;
    mutable std::string moduleTreeWhyNot;
};

} // namespace VAEPlugin

#endif
