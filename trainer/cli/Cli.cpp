#include "Cli.h"

#include "LaunchCommand.h"
#include "MetricsCommand.h"
#include "SweepCommand.h"
#include "TrainCommand.h"

#include <CLI/CLI.hpp>

#include <iostream>
#include <string>
#include <vector>

namespace VAEPlugin {

int runCli(int argc, char** argv) {
    CLI::App app{"openmm-vae: learn collective variables with variational autoencoders"};
    app.require_subcommand(1);
    TrainCommand train(app);
    addMetricsCommand(app);
    addSweepCommand(app);
    addLaunchCommand(app);

    std::vector<std::string> args(argv, argv + argc);
    try {
        args = train.withConfigFile(args);
    } catch (const std::exception& e) {
        std::cerr << "openmm-vae train: error: " << e.what() << "\n";
        return 2;
    }
    std::vector<char*> cargs;
    for (auto& a : args) cargs.push_back(a.data());
    try {
        app.parse(static_cast<int>(cargs.size()), cargs.data());
    } catch (const CLI::ParseError& e) {
        return app.exit(e);  // also how the subcommands' callbacks end (CommandRunner.h)
    }
    return 0;
}

} // namespace VAEPlugin
