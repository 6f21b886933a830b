#ifndef OPENMM_VAE_TEST_SUPPORT_H_
#define OPENMM_VAE_TEST_SUPPORT_H_

// What most plugin tests need: the plugins loaded, particles and positions, forces against finite
// differences, exception messages, the drift of an energy series.

#include "openmm/Context.h"
#include "openmm/OpenMMException.h"
#include "openmm/Platform.h"
#include "openmm/State.h"
#include "openmm/System.h"
#include <gtest/gtest.h>
#ifdef OPENMMVAE_WITH_TORCH
#include <ATen/Parallel.h>
#include <torch/csrc/jit/runtime/graph_executor.h>
#include <torch/script.h>
#endif
#include <algorithm>
#include <cmath>
#include <functional>
#include <random>
#include <string>
#include <vector>

namespace VAETest {

/** Load OpenMM's own plugins (CPU, OpenCL, ...) and this build's VAE plugins. */
inline void loadPlugins() {
    static bool loaded = false;
    if (loaded)
        return;
    OpenMM::Platform::loadPluginsFromDirectory(OpenMM::Platform::getDefaultPluginsDirectory());
    OpenMM::Platform::loadPluginsFromDirectory(VAE_TEST_PLUGIN_DIR);
    loaded = true;
}

/**
 * One intra-op thread and LibTorch's simple executor (no profiling runs, no graph rewriting), as the
 * trainer runs TorchScript: the same call gives the same numbers however often methods ran before.
 * Returns true (for a static initialiser).
 */
inline bool deterministicTorch() {
#ifdef OPENMMVAE_WITH_TORCH
    at::set_num_threads(1);
    torch::jit::getProfilingMode() = false;
    torch::jit::getExecutorMode() = false;
#endif
    return true;
}

/** A System of numParticles particles of the given mass and no forces. */
inline OpenMM::System* makeSystem(int numParticles, double mass = 12.0) {
    OpenMM::System* system = new OpenMM::System();
    for (int i = 0; i < numParticles; i++)
        system->addParticle(mass);
    return system;
}

/** numAtoms positions spread along x (no two coincide, y away from 0 for polar features), reproducible from seed. */
inline std::vector<OpenMM::Vec3> randomPositions(int numAtoms, int seed) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<double> u(-0.5, 0.5);
    std::vector<OpenMM::Vec3> positions;
    for (int i = 0; i < numAtoms; i++)
        positions.push_back(OpenMM::Vec3(0.15 * i + 0.3 * u(rng), 0.3 + 0.3 * u(rng), 0.3 * u(rng)));
    return positions;
}

/** The largest force magnitude (the scale of force tolerances). */
inline double largestForce(const std::vector<OpenMM::Vec3>& forces) {
    double scale = 0;
    for (const OpenMM::Vec3& f : forces)
        scale = std::max(scale, std::sqrt(f.dot(f)));
    return scale;
}

/**
 * Forces of the force groups `groups` at `positions` against central differences (step 1e-5 nm) of
 * their energy, per coordinate, within tolerance times the largest force. Leaves `positions` set.
 */
inline void expectForcesMatchFiniteDifferences(OpenMM::Context& context, const std::vector<OpenMM::Vec3>& positions, double tolerance,
                                               int groups = -1) {
    using OpenMM::State;
    context.setPositions(positions);
    std::vector<OpenMM::Vec3> forces = context.getState(State::Forces, false, groups).getForces();
    double scale = largestForce(forces);
    ASSERT_GT(scale, 1e-3) << "the test model gives vanishing forces";
    const double h = 1e-5;
    for (int atom = 0; atom < (int) positions.size(); atom++)
        for (int d = 0; d < 3; d++) {
            std::vector<OpenMM::Vec3> plus = positions, minus = positions;
            plus[atom][d] += h;
            minus[atom][d] -= h;
            context.setPositions(plus);
            double ePlus = context.getState(State::Energy, false, groups).getPotentialEnergy();
            context.setPositions(minus);
            double eMinus = context.getState(State::Energy, false, groups).getPotentialEnergy();
            EXPECT_NEAR(forces[atom][d], -(ePlus - eMinus) / (2 * h), tolerance * scale) << "atom " << atom << " dim " << d;
        }
    context.setPositions(positions);
}

/** The message of the OpenMMException f throws, or "(no OpenMMException)". */
inline std::string messageOf(const std::function<void()>& f) {
    try {
        f();
    }
    catch (const OpenMM::OpenMMException& e) {
        return e.what();
    }
    return "(no OpenMMException)";
}

/** f throws an OpenMMException whose message contains fragment. */
inline void expectThrowContaining(const std::function<void()>& f, const std::string& fragment) {
    std::string message = messageOf(f);
    EXPECT_NE(message.find(fragment), std::string::npos) << "expected an OpenMMException mentioning '" << fragment << "', got: " << message;
}

/** Least-squares slope of y against x (the drift of an energy series). */
inline double leastSquaresSlope(const std::vector<double>& x, const std::vector<double>& y) {
    double xm = 0, ym = 0, sxy = 0, sxx = 0;
    for (size_t i = 0; i < x.size(); i++) {
        xm += x[i] / x.size();
        ym += y[i] / y.size();
    }
    for (size_t i = 0; i < x.size(); i++) {
        sxy += (x[i] - xm) * (y[i] - ym);
        sxx += (x[i] - xm) * (x[i] - xm);
    }
    return sxy / sxx;
}

} // namespace VAETest

#endif
