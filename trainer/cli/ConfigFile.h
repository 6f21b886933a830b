#ifndef OPENMM_VAE_TRAINER_CLI_CONFIG_FILE_H_
#define OPENMM_VAE_TRAINER_CLI_CONFIG_FILE_H_

#include <string>
#include <vector>

namespace VAEPlugin {

/**
 * Reads a config file (JSON object, or TOML when the name ends in .toml) whose keys are the long flag
 * names of `openmm-vae train` (with '-' or '_'), and returns the equivalent command-line tokens
 * ("--key", "value"). Lists become comma-separated values, true becomes a bare flag, false and null
 * are dropped. Keys in `skip` (flags given on the command line, which take precedence) are left out.
 * Throws std::runtime_error naming the file and the bad key or syntax.
 */
std::vector<std::string> configFileTokens(const std::string& path, const std::vector<std::string>& knownKeys,
                                          const std::vector<std::string>& flagKeys,
                                          const std::vector<std::string>& skip);

} // namespace VAEPlugin

#endif
