#ifndef OPENMM_VAE_TRAINER_CLI_INFO_COMMAND_H_
#define OPENMM_VAE_TRAINER_CLI_INFO_COMMAND_H_

#include <string>

namespace CLI {
class App;
}

namespace VAEPlugin {

/**
 * What `openmm-vae info MODEL` prints: the bundle's format version and integrity, atoms, features,
 * latent size, architecture, training provenance, and whether it runs natively (the CV: the native
 * self-check; VAE-MC: the native densities and moves), i.e. without LibTorch. Throws BundleError for a
 * file that does not load (a damaged file included).
 */
std::string describeBundle(const std::string& path);

/** Registers `info MODEL` (exit 0, or 1 with the reason when the file does not load). */
void addInfoCommand(CLI::App& app);

/**
 * Registers `upgrade OLD NEW`: reads a bundle of an earlier format (module and metadata) and writes it
 * again in the current one (native section and integrity record added; the TorchScript module and the
 * metadata's content unchanged but for its format version), checked by loading NEW and comparing its
 * CV on the probe with OLD's.
 */
void addUpgradeCommand(CLI::App& app);

} // namespace VAEPlugin

#endif
