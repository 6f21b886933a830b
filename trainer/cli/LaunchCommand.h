#ifndef OPENMM_VAE_TRAINER_CLI_LAUNCH_COMMAND_H_
#define OPENMM_VAE_TRAINER_CLI_LAUNCH_COMMAND_H_

#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace VAEPlugin {

/** What `openmm-vae launch` starts: N local ranks of one openmm-vae command. */
struct LaunchOptions {
    int ranks = 2;
    std::string masterAddress = "127.0.0.1";
    int masterPort = 0;                 ///< 0: a free port
    double graceSeconds = 10;           ///< after one rank fails: SIGTERM to the others, SIGKILL after this
    std::vector<std::string> command;   ///< arguments of openmm-vae, e.g. train --system mueller ...
};

/**
 * Starts options.ranks copies of this executable (/proc/self/exe) with `command` and the torchrun
 * environment (RANK, LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT); their output
 * goes straight to this process's stdout/stderr. When a rank fails, the others are stopped and its
 * status is returned (a rank killed by a signal: 128 + signal); 0 when all succeed. SIGINT and SIGTERM
 * are passed on to the ranks.
 */
int runLaunch(const LaunchOptions& options);

/** Registers `launch -n N [--master-port P] -- COMMAND...`. */
void addLaunchCommand(CLI::App& app);

} // namespace VAEPlugin

#endif
