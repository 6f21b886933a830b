// MD step time of a plain System against the same System with a bias, on any OpenMM platform, from
// XML files, with no Python: the GPU machine has OpenMM's C++ libraries but no OpenMM Python.
// `run.py --export DIR` writes the files for alanine dipeptide (plain.xml, biased.xml, state.xml).
//
//   vae-step-time DIR --platform OpenCL [--property Precision=mixed ...] [--cv-property WorkGroupSize=256 ...]
//                 [--steps 2000] [--blocks 5]
//
// Langevin middle, 300 K, 1/ps, 2 fs. Plain and biased Contexts run in alternating blocks (so that
// other load on the machine hits both alike); each block ends with getState, which waits for an
// asynchronous platform's queue. Prints the best and median block of each, the ratio of the best
// blocks, and one JSON line for scripts.
#include "VAECVForce.h"
#include "openmm/Context.h"
#include "openmm/LangevinMiddleIntegrator.h"
#include "openmm/OpenMMException.h"
#include "openmm/Platform.h"
#include "openmm/State.h"
#include "openmm/System.h"
#include "openmm/serialization/XmlSerializer.h"
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

using namespace OpenMM;

namespace {

template <class T>
std::unique_ptr<T> readXml(const std::string& path) {
    std::ifstream in(path);
    if (!in)
        throw OpenMMException("cannot read " + path);
    return std::unique_ptr<T>(XmlSerializer::deserialize<T>(in));
}

struct Run {
    std::unique_ptr<System> system;
    std::unique_ptr<LangevinMiddleIntegrator> integrator;
    std::unique_ptr<Context> context;
    std::vector<double> blocks;  // us/step
};

Run start(std::unique_ptr<System> system, const State& state, Platform& platform, const std::map<std::string, std::string>& properties,
          int warmup) {
    Run run;
    run.system = std::move(system);
    run.integrator = std::make_unique<LangevinMiddleIntegrator>(300.0, 1.0, 0.002);
    run.integrator->setRandomNumberSeed(2);
    run.context = std::make_unique<Context>(*run.system, *run.integrator, platform, properties);
    run.context->setState(state);
    run.integrator->step(warmup);  // kernels compiled, caches warm
    run.context->getState(State::Energy);
    return run;
}

double timeBlock(Run& run, int steps) {
    auto begin = std::chrono::steady_clock::now();
    run.integrator->step(steps);
    run.context->getState(State::Energy);
    std::chrono::duration<double, std::micro> elapsed = std::chrono::steady_clock::now() - begin;
    return elapsed.count() / steps;
}

double median(std::vector<double> values) {
    std::sort(values.begin(), values.end());
    size_t n = values.size();
    return n % 2 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
}

/** NAME=VALUE arguments as a map. */
std::map<std::string, std::string> parseProperties(const std::vector<std::string>& args) {
    std::map<std::string, std::string> properties;
    for (const std::string& arg : args) {
        size_t eq = arg.find('=');
        if (eq == std::string::npos || eq == 0)
            throw OpenMMException("a property wants NAME=VALUE, not '" + arg + "'");
        properties[arg.substr(0, eq)] = arg.substr(eq + 1);
    }
    return properties;
}

/** The platform's DeviceName property (OpenCL, CUDA); the CPU platforms have none. */
std::string deviceName(Platform& platform, Context& context) {
    try {
        return platform.getPropertyValue(context, "DeviceName");
    }
    catch (const OpenMMException&) {
        return "host CPU";
    }
}

} // namespace

int main(int argc, char** argv) {
    CLI::App app{"MD us/step of plain.xml against biased.xml (same state.xml) on one OpenMM platform"};
    std::string dir, platformName = "Reference";
    std::vector<std::string> propertyArgs, cvPropertyArgs;
    int steps = 2000, blocks = 5, warmup = 200;
    app.add_option("dir", dir, "folder with plain.xml, biased.xml, state.xml (run.py --export)")->required();
    app.add_option("--platform", platformName, "OpenMM platform")->capture_default_str();
    app.add_option("--property", propertyArgs, "platform property NAME=VALUE (repeatable)");
    app.add_option("--cv-property", cvPropertyArgs, "VAECVForce property NAME=VALUE set on every VAECVForce (repeatable)");
    app.add_option("--steps", steps, "steps per timed block")->capture_default_str()->check(CLI::PositiveNumber);
    app.add_option("--blocks", blocks, "timed blocks per system")->capture_default_str()->check(CLI::PositiveNumber);
    app.add_option("--warmup", warmup, "untimed steps first")->capture_default_str()->check(CLI::NonNegativeNumber);
    CLI11_PARSE(app, argc, argv);
    try {
        Platform::loadPluginsFromDirectory(Platform::getDefaultPluginsDirectory());
        const char* vaePlugins = std::getenv("OPENMMVAE_PLUGIN_DIR");
        if (vaePlugins == nullptr)
            throw OpenMMException("set OPENMMVAE_PLUGIN_DIR to the folder of the openmm-vae plugins (<build>/plugins)");
        Platform::loadPluginsFromDirectory(vaePlugins);
        for (const std::string& error : Platform::getPluginLoadFailures())
            std::cerr << "plugin not loaded: " << error << "\n";
        std::map<std::string, std::string> properties = parseProperties(propertyArgs), cvProperties = parseProperties(cvPropertyArgs);
        Platform& platform = Platform::getPlatformByName(platformName);
        std::unique_ptr<State> state = readXml<State>(dir + "/state.xml");
        std::unique_ptr<System> biasedSystem = readXml<System>(dir + "/biased.xml");
        int cvForces = 0;
        for (int i = 0; i < biasedSystem->getNumForces(); i++)
            if (auto* cv = dynamic_cast<VAEPlugin::VAECVForce*>(&biasedSystem->getForce(i))) {
                cvForces++;
                for (const auto& p : cvProperties)
                    cv->setProperty(p.first, p.second);
            }
        Run plain = start(readXml<System>(dir + "/plain.xml"), *state, platform, properties, warmup);
        Run biased = start(std::move(biasedSystem), *state, platform, properties, warmup);
        for (int b = 0; b < blocks; b++) {
            plain.blocks.push_back(timeBlock(plain, steps));
            biased.blocks.push_back(timeBlock(biased, steps));
        }
        double plainBest = *std::min_element(plain.blocks.begin(), plain.blocks.end());
        double biasedBest = *std::min_element(biased.blocks.begin(), biased.blocks.end());
        double plainMedian = median(plain.blocks), biasedMedian = median(biased.blocks);
        std::string device = deviceName(platform, *plain.context);
        std::string props;
        for (const auto& p : properties)
            props += (props.empty() ? "" : ",") + p.first + "=" + p.second;
        for (const auto& p : cvProperties)
            props += (props.empty() ? "cv:" : ",cv:") + p.first + "=" + p.second;
        std::printf("%s [%s] on %s: %d atoms, %d VAECVForce; %d steps x %d blocks\n", platformName.c_str(), props.c_str(),
                    device.c_str(), plain.system->getNumParticles(), cvForces, steps, blocks);
        std::printf("  plain  us/step best %9.2f median %9.2f\n", plainBest, plainMedian);
        std::printf("  biased us/step best %9.2f median %9.2f\n", biasedBest, biasedMedian);
        std::printf("  biased/plain %.3f (best blocks), %.3f (medians)\n", biasedBest / plainBest, biasedMedian / plainMedian);
        nlohmann::json row = {{"platform", platformName}, {"properties", properties}, {"cv_properties", cvProperties}, {"device", device},
                              {"atoms", plain.system->getNumParticles()}, {"steps", steps}, {"blocks", blocks},
                              {"plain_us", plainBest}, {"biased_us", biasedBest}, {"ratio", biasedBest / plainBest},
                              {"plain_us_median", plainMedian}, {"biased_us_median", biasedMedian}};
        std::printf("JSON %s\n", row.dump().c_str());
    }
    catch (const std::exception& e) {
        std::cerr << "vae-step-time: " << e.what() << "\n";
        return 1;
    }
    return 0;
}
