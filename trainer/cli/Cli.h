#ifndef OPENMM_VAE_TRAINER_CLI_CLI_H_
#define OPENMM_VAE_TRAINER_CLI_CLI_H_

namespace VAEPlugin {

/**
 * The openmm-vae command (main): the subcommands train, metrics, sweep and launch, each in its own
 * file; returns the exit status.
 */
int runCli(int argc, char** argv);

} // namespace VAEPlugin

#endif
