#ifndef OPENMM_VAE_TEST_ALANINE_BUNDLES_H_
#define OPENMM_VAE_TEST_ALANINE_BUNDLES_H_

// The alanine dipeptide bundles of tests/data (cartesian and bat features, trained on alanine atom
// indices) and random conformations built by one of them.

#include "TestData.h"
#include "VAECVForce.h"
#include "openmm/Vec3.h"
#include <torch/script.h>
#include <cmath>
#include <string>
#include <vector>

namespace VAETest {

/** Alanine conformations (alanine atom order) built by a bat bundle of all 22 atoms from random internal coordinates. */
inline std::vector<std::vector<OpenMM::Vec3>> randomAlanineConformations(int count, int seed) {
    torch::jit::Module bundle = torch::jit::load(dataPath("ala-bat-shuffled-hbonds.pt"));
    const int rows = bundle.attr("bat_i").toIntList().size(), free = bundle.attr("bat_free_rows").toIntList().size();
    const int numFeatures = bundle.attr("num_features").toInt();
    torch::manual_seed(seed);
    torch::Tensor f = torch::empty({count, numFeatures}, torch::kFloat64);
    f.slice(1, 0, 2 + free).uniform_(0.1, 0.15);
    f.slice(1, 2 + free, 3 + free + rows).uniform_(1.75, 2.05);
    f.slice(1, 3 + free + rows).uniform_(-M_PI, M_PI);
    torch::Tensor reference = torch::randn({count, 22, 3}, torch::kFloat64);
    torch::Tensor x = bundle.get_method("positions_from_features")({f, reference}).toTensor();
    // The bundle's atoms are alanine atoms in shuffled order.
    VAEPlugin::VAECVForce force(dataPath("ala-bat-shuffled-hbonds.pt"));
    std::vector<std::vector<OpenMM::Vec3>> result(count, std::vector<OpenMM::Vec3>(22));
    for (int c = 0; c < count; c++)
        for (int k = 0; k < 22; k++)
            result[c][force.getAtoms()[k]] = OpenMM::Vec3(x[c][k][0].item<double>(), x[c][k][1].item<double>(), x[c][k][2].item<double>());
    return result;
}

/** A conformation (alanine order) in a 25-particle System: alanine atom a at particle (a + 3) % 25. */
inline std::vector<OpenMM::Vec3> alanineInSystem(const std::vector<OpenMM::Vec3>& alanine) {
    std::vector<OpenMM::Vec3> p(25, OpenMM::Vec3(0.5, 0.5, 0.5));
    for (int a = 0; a < 22; a++)
        p[(a + 3) % 25] = alanine[a];
    return p;
}

/** The alanine bundles (trained on alanine atom indices) placed on the 25-particle System. */
inline std::vector<std::string> alanineBundles() {
    return {"ala-bat-shuffled-hbonds.pt", "ala-cartesian-heavy-shuffled.pt"};
}

} // namespace VAETest

#endif
