#ifndef OPENMM_VAE_TRAINER_CLI_H_
#define OPENMM_VAE_TRAINER_CLI_H_

#include <functional>
#include <string>
#include <vector>

namespace CLI {
class App;
}

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

/**
 * The openmm-vae command (main). addCommands registers further subcommands (e.g. `metrics`, from
 * libraries built on this one) before the arguments are parsed.
 */
int runCli(int argc, char** argv, const std::function<void(CLI::App&)>& addCommands = {});

} // namespace VAEPlugin

#endif
