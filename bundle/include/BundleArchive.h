#ifndef OPENMM_VAE_BUNDLE_ARCHIVE_H_
#define OPENMM_VAE_BUNDLE_ARCHIVE_H_

#include <map>
#include <string>
#include <vector>

namespace VAEPlugin {

/**
 * The zip container of a model bundle, read without LibTorch (libzip): its members by name and its
 * integrity record. A TorchScript archive keeps every member under one top folder (e.g. "model.pt/");
 * names here are relative to it ("extra/metadata.json").
 *
 * Integrity (design.md): the member BundleSchema::kIntegrityFile holds the SHA-256 of every other
 * member, so a bundle whose bytes changed in any member that defines its numbers, or that lost or
 * gained a member, is refused instead of loading with other numbers. Bundles written before format 2
 * have no record; they load unverified (hasIntegrityRecord() says so).
 */
class BundleArchive {
public:
    /** Opens archive bytes; BundleError naming `source` if they are not a readable zip archive. */
    BundleArchive(const std::string& bytes, const std::string& source);
    ~BundleArchive();
    BundleArchive(const BundleArchive&) = delete;
    BundleArchive& operator=(const BundleArchive&) = delete;
    /** The top folder with its slash ("model.pt/"). */
    const std::string& prefix() const { return prefix_; }
    /** Every member's full name, in archive order. */
    const std::vector<std::string>& memberNames() const { return names_; }
    bool has(const std::string& name) const;
    /** A member's bytes (its CRC checked); BundleError if it is missing or damaged. */
    std::string read(const std::string& name) const;
    bool hasIntegrityRecord() const { return has(integrityName()); }
    /**
     * Checks the integrity record against every member: BundleError naming the first member that is
     * missing, unexpected or whose digest differs. Does nothing for archives without a record.
     */
    void verifyIntegrity() const;
    /** The integrity record of these members (JSON text), as addIntegrityRecord writes it. */
    std::string integrityRecord() const;
    /** Adds the integrity record to the archive file at `path` (written by Module::save); std::runtime_error naming it on failure. */
    static void addIntegrityRecord(const std::string& path);
    /** Lowercase hex SHA-256 of bytes. */
    static std::string sha256(const std::string& bytes);
private:
    std::string integrityName() const;
    std::string source_, prefix_;
    std::string bytes_;  // libzip reads from this buffer
    void* archive_ = nullptr;
    std::vector<std::string> names_;
    std::map<std::string, long long> index_;
};

} // namespace VAEPlugin

#endif
