#include "VAEMCUniformSource.h"

#include <cmath>

namespace VAEPlugin {

double VAEMCUniformSource::uniform() {
    return ((generator_.random64() >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

double VAEMCUniformSource::normal() {
    const double u1 = uniform(), u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
}

} // namespace VAEPlugin
