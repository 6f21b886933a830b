#include "NumberText.h"

#include <stdexcept>

namespace VAEPlugin {

namespace {

/** std::stoi / std::stod on the whole text: none when they throw or stop before its end. */
template <class Number, class Convert>
std::optional<Number> parseWhole(const std::string& text, Convert convert) {
    size_t used = 0;
    Number value{};
    try {
        value = convert(text, &used);
    } catch (const std::exception&) {
        return std::nullopt;
    }
    if (used == 0 || used != text.size()) return std::nullopt;
    return value;
}

} // namespace

std::optional<int> parseInteger(const std::string& text) {
    return parseWhole<int>(text, [](const std::string& s, size_t* used) { return std::stoi(s, used); });
}

std::optional<double> parseNumber(const std::string& text) {
    return parseWhole<double>(text, [](const std::string& s, size_t* used) { return std::stod(s, used); });
}

} // namespace VAEPlugin
