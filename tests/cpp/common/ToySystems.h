#ifndef OPENMM_VAE_TEST_TOY_SYSTEMS_H_
#define OPENMM_VAE_TEST_TOY_SYSTEMS_H_

// The 2-D systems the trainer's toy bundles were trained on (mueller: xy, beltway-rtheta: polar),
// as a particle in OpenMM, their exact Boltzmann samples and the chi-square check of a histogram
// against the exact density: what the VAE-MC exactness tests need without the trainer.

#include "ChiSquare.h"
#include "openmm/CustomExternalForce.h"
#include "openmm/System.h"
#include "openmm/Vec3.h"
#include <algorithm>
#include <cmath>
#include <functional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace VAETest {

const double kTemperature = 300.0;
const double kT = 1.380649e-23 * 6.02214076e23 / 1000.0 * kTemperature;  // kJ/mol

// Mueller-Brown: 0.1 x sum_j A_j exp(a_j dx^2 + b_j dx dy + c_j dy^2), in kT.
const double kMuellerA[] = {-200, -100, -170, 15}, kMuellerSmallA[] = {-1, -1, -6.5, 0.7}, kMuellerB[] = {0, 0, 11, 0.6},
             kMuellerC[] = {-10, -10, -6.5, 0.7}, kMuellerX[] = {1, 0, -0.5, -1}, kMuellerY[] = {0, 0.5, 1.5, 1};

/** U(x, y) / kT of the trainer's system `name` (mueller or beltway-rtheta). */
inline double toyEnergy(const std::string& name, double x, double y) {
    if (name == "mueller") {
        double u = 0;
        for (int j = 0; j < 4; j++) {
            double dx = x - kMuellerX[j], dy = y - kMuellerY[j];
            u += kMuellerA[j] * std::exp(kMuellerSmallA[j] * dx * dx + kMuellerB[j] * dx * dy + kMuellerC[j] * dy * dy);
        }
        return 0.1 * u;
    }
    // beltway: exp(-U) = p(r) / (2 pi r), p = 0.5 Gamma(40, rate 40) + 0.5 Gamma(160, rate 80).
    double r = std::sqrt(x * x + y * y);
    double p1 = std::exp(40 * std::log(40.0) - std::lgamma(40.0) + 39 * std::log(r) - 40 * r);
    double p2 = std::exp(160 * std::log(80.0) - std::lgamma(160.0) + 159 * std::log(r) - 80 * r);
    return -std::log(0.5 * p1 + 0.5 * p2) + std::log(2 * M_PI) + std::log(r);
}

/** The system's U(x, y) (in kT) times kT as an OpenMM expression, plus a stiff harmonic restraint on z. */
inline std::string toyEnergyExpression(const std::string& name) {
    std::ostringstream e;
    e.precision(17);
    if (name == "mueller") {
        e << kT << "*0.1*(";
        for (int j = 0; j < 4; j++)
            e << (j ? "+" : "") << kMuellerA[j] << "*exp(" << kMuellerSmallA[j] << "*(x-(" << kMuellerX[j] << "))^2+" << kMuellerB[j]
              << "*(x-(" << kMuellerX[j] << "))*(y-(" << kMuellerY[j] << "))+" << kMuellerC[j] << "*(y-(" << kMuellerY[j] << "))^2)";
        e << ")+500*z^2";
        return e.str();
    }
    const double lc1 = 40 * std::log(40.0) - std::lgamma(40.0), lc2 = 160 * std::log(80.0) - std::lgamma(160.0);
    e << kT << "*(-log(0.5*exp(" << lc1 << "+39*log(r)-40*r)+0.5*exp(" << lc2 << "+159*log(r)-80*r))+" << std::log(2 * M_PI)
      << "+log(r))+500*z^2; r=sqrt(x^2+y^2)";
    return e.str();
}

/** One particle of mass 10 amu in the system's potential (kJ/mol at 300 K). */
inline OpenMM::System* toyParticleSystem(const std::string& name) {
    OpenMM::System* system = new OpenMM::System();
    system->addParticle(10.0);
    OpenMM::CustomExternalForce* force = new OpenMM::CustomExternalForce(toyEnergyExpression(name));
    force->addParticle(0);
    system->addForce(force);
    return system;
}

/**
 * count independent Boltzmann samples (x, y, 0) of the system: beltway exactly (radius from its
 * gamma mixture, uniform angle), mueller by rejection from the box [-2, 1.5] x [-1, 2.5] (which
 * holds all but ~1e-9 of the mass) under the bound exp(15) >= exp(-U) (U >= -14.7 kT).
 */
inline std::vector<OpenMM::Vec3> toySamples(const std::string& name, int count, unsigned seed) {
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<double> u(0.0, 1.0);
    std::vector<OpenMM::Vec3> samples;
    if (name == "mueller") {
        while ((int) samples.size() < count) {
            double x = -2.0 + 3.5 * u(rng), y = -1.0 + 3.5 * u(rng);
            if (u(rng) < std::exp(-toyEnergy(name, x, y) - 15.0))
                samples.push_back(OpenMM::Vec3(x, y, 0.0));
        }
        return samples;
    }
    std::gamma_distribution<double> narrow(40.0, 1.0 / 40.0), wide(160.0, 1.0 / 80.0);
    while ((int) samples.size() < count) {
        double r = u(rng) < 0.5 ? narrow(rng) : wide(rng), theta = -M_PI + 2 * M_PI * u(rng);
        samples.push_back(OpenMM::Vec3(r * std::cos(theta), r * std::sin(theta), 0.0));
    }
    return samples;
}

/** chi2 of configurations against exp(-U) in the system's feature space (xy for mueller, (r, theta) for beltway). */
inline double toyChiSquare(const std::string& name, const std::vector<OpenMM::Vec3>& configurations, int* dof) {
    std::vector<std::pair<double, double>> features;
    if (name == "mueller") {
        for (const OpenMM::Vec3& p : configurations)
            features.push_back({p[0], p[1]});
        return chiSquare(features, [&](double x, double y) { return -toyEnergy(name, x, y); }, -1.5, 1.2, 12, -0.5, 2.0, 12, dof);
    }
    for (const OpenMM::Vec3& p : configurations)
        features.push_back({std::sqrt(p[0] * p[0] + p[1] * p[1]), std::atan2(p[1], p[0])});
    return chiSquare(features, [&](double r, double theta) { return -toyEnergy(name, r * std::cos(theta), r * std::sin(theta)) + std::log(r); },
                     0.0, 3.2, 16, -M_PI, M_PI, 4, dof);
}

/** The chi-square check of the detailed-balance tests: chi2 below dof + 6 sigma (sigma = sqrt(2 dof)). */
inline bool chiSquarePasses(double chi2, int dof) {
    return chi2 < dof + 6.0 * std::sqrt(2.0 * dof);
}

} // namespace VAETest

#endif
