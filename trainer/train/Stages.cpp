#include "Stages.h"

#include "NumberText.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <stdexcept>

namespace VAEPlugin {

double annealedBeta(double from, double to, int epoch, int annealEpochs) {
    if (annealEpochs <= 1 || epoch >= annealEpochs) return epoch >= annealEpochs || annealEpochs <= 1 ? to : from;
    return from + (to - from) * static_cast<double>(epoch) / static_cast<double>(annealEpochs - 1);
}

std::vector<Stage> planStages(const std::vector<std::string>& betas) {
    if (betas.empty()) throw std::invalid_argument("--betas: at least one beta is needed");
    std::vector<Stage> stages;
    std::vector<std::string> seen;
    for (const auto& text : betas) {
        Stage s;
        s.name = text;
        std::optional<double> beta = parseNumber(text);
        if (!beta || !std::isfinite(*beta)) throw std::invalid_argument("--betas: '" + text + "' is not a number");
        s.beta = *beta;
        if (s.beta < 0) throw std::invalid_argument("--betas: beta " + text + " is negative");
        if (std::find(seen.begin(), seen.end(), text) != seen.end())
            throw std::invalid_argument("--betas: beta " + text + " appears twice (each names its output folder)");
        seen.push_back(text);
        if (s.beta == 0.0) {
            s.fresh = true;
            s.priorFit = true;
            s.fromBeta = 0.0;
        } else if (stages.empty() || stages.back().beta == 0.0) {
            s.fresh = true;
            s.fromBeta = 0.0;
        } else {
            s.fromBeta = stages.back().beta;
        }
        stages.push_back(s);
    }
    return stages;
}

} // namespace VAEPlugin
