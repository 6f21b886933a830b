#include "BundleSchema.h"

#include <array>
#include <utility>

namespace VAEPlugin {

namespace {

constexpr std::array<std::pair<FeatureKind, const char*>, 5> kFeatureKinds = {{
    {FeatureKind::XY, "xy"},
    {FeatureKind::Polar, "polar"},
    {FeatureKind::Positions, "positions"},
    {FeatureKind::Cartesian, "cartesian"},
    {FeatureKind::Bat, "bat"},
}};

constexpr std::array<std::pair<DecoderKind, const char*>, 4> kDecoderKinds = {{
    {DecoderKind::Mse, "mse"},
    {DecoderKind::Condind, "condind"},
    {DecoderKind::Autoregressive, "autoregressive"},
    {DecoderKind::Flow, "flow"},
}};

template <class Kind, std::size_t N>
const char* nameOf(const std::array<std::pair<Kind, const char*>, N>& table, Kind kind) {
    for (const auto& entry : table)
        if (entry.first == kind) return entry.second;
    return "?";
}

template <class Kind, std::size_t N>
std::optional<Kind> parse(const std::array<std::pair<Kind, const char*>, N>& table, const std::string& name) {
    for (const auto& entry : table)
        if (name == entry.second) return entry.first;
    return std::nullopt;
}

template <class Kind, std::size_t N>
std::string names(const std::array<std::pair<Kind, const char*>, N>& table) {
    std::string text;
    for (const auto& entry : table) text += (text.empty() ? "" : " | ") + std::string(entry.second);
    return text;
}

} // namespace

const char* featureKindName(FeatureKind kind) { return nameOf(kFeatureKinds, kind); }
std::optional<FeatureKind> parseFeatureKind(const std::string& name) { return parse(kFeatureKinds, name); }
std::string featureKindNames() { return names(kFeatureKinds); }

const char* decoderKindName(DecoderKind kind) { return nameOf(kDecoderKinds, kind); }
std::optional<DecoderKind> parseDecoderKind(const std::string& name) { return parse(kDecoderKinds, name); }
std::string decoderKindNames() { return names(kDecoderKinds); }

} // namespace VAEPlugin
