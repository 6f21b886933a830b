#ifndef OPENMM_VAE_TRAINER_CLI_TRAIN_COMMAND_H_
#define OPENMM_VAE_TRAINER_CLI_TRAIN_COMMAND_H_

#include "DistributedOptions.h"
#include "TrainConfig.h"
#include "TrainingMonitor.h"

#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace VAEPlugin {

/**
 * `openmm-vae train`: its flags (grouped Data, Model, Protocol, Execution, Data parallel; the same
 * names are the keys of a --config file), and the run (train(), Training.h) with exit status 0, 1 on
 * an error (printed as "openmm-vae train: error: ..."), 3 when --stop-after stopped it.
 */
class TrainCommand {
public:
    /**
     * Registers the subcommand on `app`; it runs when app.parse() selects it, reporting to `monitor`
     * (may be null; Cli.h) in-process.
     */
    explicit TrainCommand(CLI::App& app, const TrainingMonitor* monitor = nullptr);
    /**
     * The arguments with the tokens of a --config file (JSON or TOML) inserted after `train`, before
     * the command line's own flags (which take precedence); throws std::runtime_error naming the file.
     */
    std::vector<std::string> withConfigFile(const std::vector<std::string>& args) const;

private:
    void addOptions();
    int run();

    CLI::App* command_;
    TrainConfig config_;
    std::string configPath_;
    double temperature_ = -1;
    std::string atomsText_;
    std::string featuresText_;
    std::string decoderText_;
    DistributedOptions distributed_;
    const TrainingMonitor* monitor_;
};

/** The decoder a flag names; std::invalid_argument "FLAG: unknown decoder 'x' (known: ...)" otherwise. */
DecoderKind decoderKindOf(const std::string& text, const std::string& flag);

} // namespace VAEPlugin

#endif
