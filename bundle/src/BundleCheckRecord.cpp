#include "BundleCheckRecord.h"
#include "VAEModelBundle.h"

#include <cmath>
#include <random>
#include <string>

namespace VAEPlugin {

namespace {

// (the noise is not stored: it is drawn again from its seed)
const char* kDoubles[] = {"x", "z", "eps", "mu", "logvar", "encoder_log_prob", "prior_log_prob", "decoder_log_prob",
                          "prior_sample", "prior_sample_log_prob", "decoder_sample", "decoder_sample_log_prob"};

template <class Record>
auto field(Record& r, int i) {
    decltype(&r.x) fields[] = {&r.x, &r.z, &r.eps, &r.mu, &r.logvar, &r.encoderLogProb, &r.priorLogProb,
                                     &r.decoderLogProb, &r.priorSample, &r.priorSampleLogProb, &r.decoderSample, &r.decoderSampleLogProb};
    return fields[i];
}

/** Doubles as JSON: non-finite values (a density of -inf) as strings, which JSON numbers cannot hold. */
nlohmann::json numbers(const std::vector<double>& v) {
    nlohmann::json a = nlohmann::json::array();
    for (double x : v) a.push_back(std::isfinite(x) ? nlohmann::json(x) : nlohmann::json(std::to_string(x)));
    return a;
}

std::vector<double> numbersFrom(const nlohmann::json& a) {
    std::vector<double> v;
    for (const auto& x : a) v.push_back(x.is_number() ? x.get<double>() : std::stod(x.get<std::string>()));
    return v;
}

} // namespace

std::vector<double> BundleCheckRecord::noiseOf(uint64_t seed, size_t count) {
    std::mt19937_64 bits(seed);
    std::vector<double> noise(count);
    for (double& u : noise) u = ((bits() >> 11) + 0.5) * (1.0 / 9007199254740992.0);
    return noise;
}

nlohmann::json BundleCheckRecord::toJson() const {
    nlohmann::json j = {{"probe_atoms", probeAtoms}, {"probe_latent", numbers(probeLatent)}, {"has_densities", hasDensities}};
    if (hasDensities) {
        j["rows"] = rows;
        j["num_features"] = numFeatures;
        j["latent"] = latent;
        j["slots"] = slots;
        j["slot_noise"] = slotNoise;
        j["noise_seed"] = noiseSeed;
        for (int i = 0; i < 12; i++) j[kDoubles[i]] = numbers(*field(*this, i));
    }
    return j;
}

BundleCheckRecord BundleCheckRecord::fromJson(const nlohmann::json& j, const std::string& source) {
    BundleCheckRecord r;
    try {
        r.probeAtoms = j.at("probe_atoms").get<int>();
        r.probeLatent = numbersFrom(j.at("probe_latent"));
        r.hasDensities = j.at("has_densities").get<bool>();
        if (r.hasDensities) {
            r.rows = j.at("rows").get<int>();
            r.numFeatures = j.at("num_features").get<int>();
            r.latent = j.at("latent").get<int>();
            r.slots = j.at("slots").get<int>();
            r.slotNoise = j.at("slot_noise").get<bool>();
            r.noiseSeed = j.at("noise_seed").get<uint64_t>();
            for (int i = 0; i < 12; i++) *field(r, i) = numbersFrom(j.at(kDoubles[i]));
            const size_t R = r.rows, D = r.numFeatures, L = r.latent, S = r.slots;
            if (R < 1 || R > 64 || D < 1 || D > 100000 || L < 1 || L > 1000 || S < 1 || S > 64)
                throw BundleError("its sizes are out of range");
            r.noise = noiseOf(r.noiseSeed, R * D * S);
            const size_t sizes[] = {R * D, R * L, R * L, R * L, R * L, R, R, R, R * L, R, R * D, R};
            for (int i = 0; i < 12; i++)
                if (field(r, i)->size() != sizes[i]) throw BundleError(std::string("'") + kDoubles[i] + "' has the wrong size");
        }
    } catch (const BundleError& e) {
        throw BundleError("VAE model from " + source + ": the check record of its native section is malformed: " + e.what());
    } catch (const std::exception& e) {
        throw BundleError("VAE model from " + source + ": the check record of its native section is malformed: " + e.what());
    }
    if (r.probeLatent.empty()) throw BundleError("VAE model from " + source + ": the check record holds no probe latent");
    return r;
}

} // namespace VAEPlugin
