#include "Cli.h"

#include "InfoCommand.h"
#include "LaunchCommand.h"
#include "MetricsCommand.h"
#include "SweepCommand.h"
#include "TrainCommand.h"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <stdexcept>
#include <iostream>
#include <string>
#include <vector>

namespace VAEPlugin {

int runCli(int argc, char** argv) {
    return runCli(std::vector<std::string>(argv + std::min(argc, 1), argv + argc), nullptr);
}

namespace {

void collectOptions(CLI::App& app, const std::string& group, std::vector<CliOption>& out) {
    for (const CLI::Option* opt : app.get_options()) {
        CliOption o;
        if (!opt->get_lnames().empty()) {
            o.name = opt->get_lnames().front();
        } else if (opt->get_positional()) {
            o.name = opt->get_name();
            o.positional = true;
        } else {
            continue;
        }
        if (o.name == "help") continue;
        o.group = group;
        o.defaultText = opt->get_default_str();
        o.help = opt->get_description();
        o.takesValue = opt->get_items_expected_max() != 0;  // a flag expects no value
        out.push_back(o);
    }
    for (CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; }))
        if (sub->get_name().empty()) collectOptions(*sub, sub->get_group(), out);  // option groups
}

} // namespace

std::vector<CliOption> describeOptions(CLI::App& command) {
    std::vector<CliOption> out;
    collectOptions(command, "", out);
    return out;
}

std::vector<CliOption> cliOptions(const std::string& subcommand) {
    CLI::App app;
    TrainCommand train(app);
    addMetricsCommand(app);
    addSweepCommand(app);
    CLI::App* sub = nullptr;
    try {
        sub = app.get_subcommand(subcommand);
    } catch (const CLI::OptionNotFound&) {
        throw std::invalid_argument("openmm-vae has no subcommand '" + subcommand + "' with options (train, metrics, sweep)");
    }
    return describeOptions(*sub);
}

int runCli(const std::vector<std::string>& arguments, const TrainingMonitor* monitor) {
    CLI::App app{"openmm-vae: learn collective variables with variational autoencoders"};
    app.name("openmm-vae");
    app.require_subcommand(1);
    TrainCommand train(app, monitor);
    addMetricsCommand(app);
    addSweepCommand(app, monitor);
    addLaunchCommand(app);
    addInfoCommand(app);
    addUpgradeCommand(app);

    std::vector<std::string> args = {"openmm-vae"};
    args.insert(args.end(), arguments.begin(), arguments.end());
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
