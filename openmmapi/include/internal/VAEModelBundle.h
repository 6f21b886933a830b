#ifndef OPENMM_VAE_MODEL_BUNDLE_H_
#define OPENMM_VAE_MODEL_BUNDLE_H_

#include <nlohmann/json.hpp>
#include <torch/script.h>
#include <memory>

namespace OpenMM {
class System;
}
#include <string>
#include <vector>

namespace VAEPlugin {

/**
 * A model bundle held in memory: the bytes of a TorchScript archive plus its parsed metadata
 * (the extra file "metadata.json" written by the trainer; absent for foreign models).
 * Loading validates that the bytes are a TorchScript archive with a forward method.
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
    /**
     * Check that the bundle fits a System, throwing OpenMMException (messages start with `user`,
     * e.g. "VAECVForce") naming the atoms and values at fault:
     *  - every bundle atom index is < system.getNumParticles();
     *  - for `bat` features: the System's constraints between bundle atoms are exactly the
     *    metadata's features.constrained_bonds ([[i, j, length_nm], ...], System indices), with
     *    lengths equal within 1e-4 nm, and no constraint joins a bundle atom to an atom outside the
     *    bundle (a move would break it).
     * Bundles without metadata (foreign models) are not checked.
     */
    void checkSystem(const OpenMM::System& system, const std::string& user) const;
    /**
     * As above, with the bundle's atoms placed at the System indices `atoms` (in the bundle's atom
     * order; e.g. VAECVForce::setAtoms) instead of the metadata's "atoms"; constrained_bonds
     * are mapped through the metadata's atoms to these.
     */
    void checkSystem(const OpenMM::System& system, const std::string& user, const std::vector<int>& atoms) const;
    /** A fresh module in double precision, in eval mode, independent of any other copy. */
    torch::jit::Module createModule() const;
    /**
     * Evaluate forward on a deterministic probe configuration of nAtoms atoms and return the
     * latent size; throws OpenMMException naming the problem if forward fails or returns
     * something other than a 1-D tensor.
     */
    int probeLatentSize(int nAtoms) const;
    /** The probe configuration ([nAtoms * 3], nm) used to check models when a Context is created. */
    static std::vector<double> probePositions(int nAtoms);
    /** Run forward on positions [n,3] (double) and check the result is a 1-D tensor. */
    static torch::Tensor evaluate(torch::jit::Module& module, const torch::Tensor& positions, const std::string& source);
    /** The informative line of a LibTorch/TorchScript error message. */
    static std::string summarizeError(const std::exception& e);
private:
    VAEModelBundle() = default;
    std::string bytes, metadataText, source;
    nlohmann::json metadata;
};

} // namespace VAEPlugin

#endif
