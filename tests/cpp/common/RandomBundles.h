#ifndef OPENMM_VAE_TEST_RANDOM_BUNDLES_H_
#define OPENMM_VAE_TEST_RANDOM_BUNDLES_H_

// Trainer bundles of untrained (random) VAEs, written by the tests through the trainer library
// (needs VAETrainer), and random positions for them.

#include "Bundle.h"
#include "Dataset.h"
#include "TestModels.h"
#include "VAEModelBuilder.h"
#include "openmm/Vec3.h"
#include <random>
#include <string>
#include <vector>

namespace VAETest {

/** A bundle of a random VAE with a non-trivial standardisation, as archive bytes with metadata. */
inline std::string randomBundle(const std::string& kind, const std::vector<int>& atoms, int latent, int hidden, uint64_t seed) {
    using namespace VAEPlugin;
    int columns = kind == "positions" ? 3 * atoms.size() : 2;
    std::vector<int> periodic;
    if (kind == "polar")
        periodic.push_back(1);
    FeatureSpec features = FeatureSpec::make(kind, columns, periodic, atoms);
    ModelConfig config;
    config.numFeatures = columns;
    config.periodic = features.periodic;
    config.latent = latent;
    config.hidden = hidden;
    config.decoder = "condind";
    torch::jit::Module model = buildVAE(config, seed);
    Standardization standardization;
    std::mt19937 rng(seed);
    std::uniform_real_distribution<double> u(0.0, 1.0);
    for (int i = 0; i < columns; i++) {
        standardization.mean.push_back(features.periodic[i] ? 0.0 : 0.4 * (u(rng) - 0.5));
        standardization.scale.push_back(features.periodic[i] ? 1.0 : 0.2 + u(rng));
    }
    torch::jit::Module bundle = makeBundle(model, features, standardization);
    return archiveBytes(bundle, metadataFor(atoms, latent));
}

/** numAtoms positions spread along x (so no two coincide), reproducible from seed. */
inline std::vector<OpenMM::Vec3> randomPositions(int numAtoms, int seed) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<double> u(-0.5, 0.5);
    std::vector<OpenMM::Vec3> positions;
    for (int i = 0; i < numAtoms; i++)
        positions.push_back(OpenMM::Vec3(0.15 * i + 0.3 * u(rng), 0.3 + 0.3 * u(rng), 0.3 * u(rng)));
    return positions;
}

} // namespace VAETest

#endif
