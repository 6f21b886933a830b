#include "VAEMCStatistics.h"

#include <cmath>
#include <type_traits>

namespace VAEPlugin {

#ifdef OPENMMVAE_WITH_TORCH
using torch::Tensor;
#endif

const std::array<std::string, kVAEMCNumMoveKinds>& vaeMCMoveKindNames() {
    static const std::array<std::string, kVAEMCNumMoveKinds> names = {"full", "torsion"};
    return names;
}

void VAEMCStatistics::Sums::add(double value) {
    if (!std::isfinite(value)) return;
    finite++;
    sum += value;
    sumSq += value * value;
}

void VAEMCStatistics::Sums::add(const Sums& other) {
    sum += other.sum;
    sumSq += other.sumSq;
    finite += other.finite;
}

VAEMCStatistics& VAEMCStatistics::operator+=(const VAEMCStatistics& other) {
    attempted_ += other.attempted_;
    accepted_ += other.accepted_;
    rejectedNonFinite_ += other.rejectedNonFinite_;
    for (int k = 0; k < kVAEMCNumTerms; k++) terms_[k].add(other.terms_[k]);
    total_.add(other.total_);
    return *this;
}

VAEMCTermStats VAEMCStatistics::Sums::stats() const {
    VAEMCTermStats s;
    s.finite = finite;
    if (finite == 0) return s;
    s.mean = sum / finite;
    s.std = std::sqrt(std::max(0.0, sumSq / finite - s.mean * s.mean));
    return s;
}

void VAEMCStatistics::add(const VAEMCLogAlphaValue& a, bool accepted) {
    attempted_++;
    accepted_ += accepted;
    rejectedNonFinite_ += !a.valid;
    for (int k = 0; k < kVAEMCNumTerms; k++) terms_[k].add(a.terms[k]);
    total_.add(a.total);
}

#ifdef OPENMMVAE_WITH_TORCH
void VAEMCStatistics::add(const VAEMCLogAlpha& a, const Tensor& accepted) {
    const Tensor total = a.total.to(torch::kFloat64).contiguous(), valid = a.valid.to(torch::kBool).contiguous(),
                 acc = accepted.to(torch::kBool).reshape({-1}).contiguous();
    std::array<Tensor, kVAEMCNumTerms> terms;
    for (int k = 0; k < kVAEMCNumTerms; k++) terms[k] = a.terms[k].to(torch::kFloat64).contiguous();
    for (int64_t r = 0; r < total.numel(); r++) {
        VAEMCLogAlphaValue one;
        for (int k = 0; k < kVAEMCNumTerms; k++) one.terms[k] = terms[k].data_ptr<double>()[r];
        one.total = total.data_ptr<double>()[r];
        one.valid = valid.data_ptr<bool>()[r];
        add(one, acc.data_ptr<bool>()[r]);
    }
}
#endif

VAEMCTermStats VAEMCStatistics::term(int k) const {
    if (k < 0 || k >= kVAEMCNumTerms) throw std::out_of_range("VAEMCStatistics: no term " + std::to_string(k));
    return terms_[k].stats();
}

VAEMCTermStats VAEMCStatistics::total() const { return total_.stats(); }

// Counts and sums are plain numbers, so the object's bytes are the whole state.
static_assert(std::is_trivially_copyable<VAEMCStatistics>::value, "VAEMCStatistics is written as bytes");

void VAEMCStatistics::write(std::ostream& stream) const {
    stream.write(reinterpret_cast<const char*>(this), sizeof(*this));
}

bool VAEMCStatistics::read(std::istream& stream) {
    VAEMCStatistics loaded;
    stream.read(reinterpret_cast<char*>(&loaded), sizeof(loaded));
    if (!stream)
        return false;
    *this = loaded;
    return true;
}

} // namespace VAEPlugin
