#ifndef OPENMM_VAE_TRAINER_CLI_CLI_H_
#define OPENMM_VAE_TRAINER_CLI_CLI_H_

#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace VAEPlugin {

struct TrainingMonitor;

/**
 * The openmm-vae command (main): the subcommands train, metrics, sweep and launch, each in its own
 * file; returns the exit status.
 */
int runCli(int argc, char** argv);

/**
 * The same command in-process (the Python API): `args` without the program name; train and sweep
 * report their epochs to `monitor` (may be null), which may stop them at a checkpoint (status 3 for
 * train, as --stop-after). Output goes to std::cout and std::cerr, as from the command.
 */
int runCli(const std::vector<std::string>& args, const TrainingMonitor* monitor);

/** One long flag of a subcommand, as its help lists it. */
struct CliOption {
    std::string name;         ///< without the dashes ("learning-rate")
    std::string group;        ///< option group ("Data", "Model", ...; empty for ungrouped ones)
    std::string defaultText;  ///< the default as --help shows it (empty when it has none)
    std::string help;
    bool takesValue = true;   ///< false for a flag such as --resume
    bool positional = false;  ///< given without a name (metrics' MODEL)
};

/** The options of a (sub)command and of its option groups, in help order, --help left out. */
std::vector<CliOption> describeOptions(CLI::App& command);

/** The options of a subcommand (train, metrics, sweep) in help order; std::invalid_argument for another name. */
std::vector<CliOption> cliOptions(const std::string& subcommand);

} // namespace VAEPlugin

#endif
