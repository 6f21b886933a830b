#ifndef OPENMM_VAE_TRAINER_DATA_NUMBER_TEXT_H_
#define OPENMM_VAE_TRAINER_DATA_NUMBER_TEXT_H_

#include <optional>
#include <string>

namespace VAEPlugin {

/** The integer that all of `text` spells (e.g. an --atoms item, RANK), or none. */
std::optional<int> parseInteger(const std::string& text);

/** The number that all of `text` spells (e.g. a beta), or none; infinities and NaN included. */
std::optional<double> parseNumber(const std::string& text);

} // namespace VAEPlugin

#endif
