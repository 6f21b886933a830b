#include "Cli.h"
#include "LaunchCommand.h"
#include "MetricsCommand.h"
#include "SweepCommand.h"

int main(int argc, char** argv) {
    return VAEPlugin::runCli(argc, argv, [](CLI::App& app) {
        VAEPlugin::addMetricsCommand(app);
        VAEPlugin::addSweepCommand(app);
        VAEPlugin::addLaunchCommand(app);
    });
}
