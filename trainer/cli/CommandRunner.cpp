#include "CommandRunner.h"

#include <CLI/CLI.hpp>

#include <iostream>

namespace VAEPlugin {

void finishCommand(int status) {
    if (status == 0) throw CLI::Success();
    throw CLI::RuntimeError(status);
}

void runCommand(const std::string& name, int errorStatus, const std::function<int()>& work) {
    int status = 0;
    try {
        status = work();
    } catch (const std::exception& e) {
        std::cerr << "openmm-vae " << name << ": error: " << e.what() << "\n";
        status = errorStatus;
    }
    finishCommand(status);
}

} // namespace VAEPlugin
