#ifndef OPENMM_VAE_TRAINER_CLI_COMMAND_RUNNER_H_
#define OPENMM_VAE_TRAINER_CLI_COMMAND_RUNNER_H_

#include <functional>
#include <string>

namespace VAEPlugin {

/**
 * Ends a subcommand's CLI11 callback with an exit status (0: CLI::Success, else CLI::RuntimeError),
 * so that the app.exit(e) of runCli's parse returns it.
 */
[[noreturn]] void finishCommand(int status);

/**
 * Runs a subcommand's work inside its callback: the status `work` returns is the exit status; an
 * exception is printed as "openmm-vae NAME: error: WHAT" and gives `errorStatus`.
 */
[[noreturn]] void runCommand(const std::string& name, int errorStatus, const std::function<int()>& work);

} // namespace VAEPlugin

#endif
