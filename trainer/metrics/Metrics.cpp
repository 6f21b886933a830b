#include "Metrics.h"

#include "BundleSchema.h"

#include <cmath>
#include <stdexcept>
#include <string>

namespace VAEPlugin {

namespace {

using torch::Tensor;

std::pair<Tensor, Tensor> encodeAll(torch::jit::Module& bundle, const Tensor& x) {
    auto out = bundle.get_method(BundleSchema::Method::kEncode)({x}).toTuple();
    return {out->elements()[0].toTensor().to(torch::kFloat64), out->elements()[1].toTensor().to(torch::kFloat64)};
}

Tensor call1(torch::jit::Module& bundle, const char* name, const Tensor& a) {
    return bundle.get_method(name)({a}).toTensor();
}

} // namespace

int64_t bundleNumFeatures(torch::jit::Module& bundle) {
    using namespace BundleSchema;
    if (!bundle.hasattr(Attribute::kModel))
        throw std::invalid_argument(std::string("not a VAE model bundle (no submodule '") + Attribute::kModel + "')");
    return bundle.attr(Attribute::kModel).toModule().attr(Model::kNumFeatures).toInt();
}

void checkFeatures(torch::jit::Module& bundle, const Tensor& features, const char* what) {
    if (!features.defined() || features.dim() != 2)
        throw std::invalid_argument(std::string(what) + ": expected a [n, D] array of features");
    if (features.size(0) == 0) throw std::invalid_argument(std::string(what) + ": the data set is empty");
    int64_t d = bundleNumFeatures(bundle);
    if (features.size(1) != d)
        throw std::invalid_argument(std::string(what) + ": the data have " + std::to_string(features.size(1)) +
                                    " features per configuration but the model expects " + std::to_string(d));
    Tensor bad = (~torch::isfinite(features.to(torch::kFloat64))).any(1);
    if (bad.any().item<bool>()) {
        int64_t row = bad.nonzero()[0][0].item<int64_t>();
        throw std::invalid_argument(std::string(what) + ": non-finite value (NaN or infinity) in row " +
                                    std::to_string(row) + " of the data");
    }
}

Tensor gaussianKL(const Tensor& muA, const Tensor& logvarA, const Tensor& muB, const Tensor& logvarB) {
    Tensor d = muB - muA;
    return 0.5 * (torch::exp(logvarA - logvarB) + d * d * torch::exp(-logvarB) - 1.0 + (logvarB - logvarA));
}

Tensor jdEncode(const Tensor& muIn, const Tensor& logvarIn, int64_t batchSize) {
    if (batchSize < 2) throw std::invalid_argument("jdEncode: batch size must be at least 2");
    Tensor mu = muIn.to(torch::kFloat64), logvar = logvarIn.to(torch::kFloat64);
    if (mu.dim() != 2 || !mu.sizes().equals(logvar.sizes()))
        throw std::invalid_argument("jdEncode: mu and logvar must both be [n, L]");
    int64_t n = mu.size(0), L = mu.size(1);
    // Sum over ordered pairs of JD(a, b) = 0.25 [v_a/v_b + v_b/v_a - 2 + (mu_a - mu_b)^2 (1/v_a + 1/v_b)]
    // (the log terms cancel; the diagonal is 0) from per-batch moments, O(n):
    //   sum = 0.25 [2 S_v S_iv - 2 b^2 + 2 (S_iv S_mu2 - 2 S_mu S_muiv + b S_mu2iv)],
    // with mu centred per batch (the differences are unchanged) against cancellation.
    auto batchSums = [&](const Tensor& m0, const Tensor& lv) {  // [nb, b, L] -> [L] summed over batches
        double b = static_cast<double>(m0.size(1));
        Tensor m = m0 - m0.mean(1, true);
        Tensor v = torch::exp(lv), iv = torch::exp(-lv);
        Tensor Sv = v.sum(1), Siv = iv.sum(1), Smu = m.sum(1), Smu2 = (m * m).sum(1);
        Tensor Smuiv = (m * iv).sum(1), Smu2iv = (m * m * iv).sum(1);
        Tensor ratio = (Sv * Siv - b * b).clamp_min(0.0);
        Tensor dist = (Siv * Smu2 - 2.0 * Smu * Smuiv + b * Smu2iv).clamp_min(0.0);
        return (0.5 * (ratio + dist)).sum(0);
    };
    Tensor sum = torch::zeros({L}, torch::kFloat64);
    double pairs = 0;
    int64_t full = n / batchSize;
    if (full > 0) {
        sum += batchSums(mu.slice(0, 0, full * batchSize).reshape({full, batchSize, L}),
                         logvar.slice(0, 0, full * batchSize).reshape({full, batchSize, L}));
        pairs += static_cast<double>(full) * batchSize * (batchSize - 1);
    }
    int64_t rest = n - full * batchSize;
    if (rest >= 2) {
        sum += batchSums(mu.slice(0, full * batchSize).unsqueeze(0), logvar.slice(0, full * batchSize).unsqueeze(0));
        pairs += static_cast<double>(rest) * (rest - 1);
    }
    if (pairs == 0) throw std::invalid_argument("jdEncode: need at least two configurations");
    return sum / pairs;
}

double histogramEntropy(const Tensor& samplesIn, int bins) {
    if (bins < 1) throw std::invalid_argument("histogramEntropy: bins must be positive");
    Tensor s = samplesIn.to(torch::kFloat64).flatten();
    int64_t n = s.numel();
    if (n == 0) throw std::invalid_argument("histogramEntropy: no samples");
    double lo = s.min().item<double>(), hi = s.max().item<double>();
    if (!(hi > lo)) return -INFINITY;  // a point mass
    double width = (hi - lo) / bins;
    Tensor idx = ((s - lo) / width).floor().clamp(0, bins - 1).to(torch::kLong);
    Tensor counts = torch::bincount(idx, {}, bins).to(torch::kFloat64);
    Tensor p = counts / static_cast<double>(n);
    Tensor nz = p.masked_select(p > 0);
    return -(nz * torch::log(nz / width)).sum().item<double>();
}

double totalCorrelation(const Tensor& z, const Tensor& logDensity, int bins, std::vector<double>* marginals,
                        double* joint) {
    double sum = 0;
    if (marginals) marginals->clear();
    for (int64_t k = 0; k < z.size(1); k++) {
        double s = histogramEntropy(z.select(1, k), bins);
        sum += s;
        if (marginals) marginals->push_back(s);
    }
    double sj = -logDensity.to(torch::kFloat64).mean().item<double>();
    if (joint) *joint = sj;
    return sum - sj;
}

LatentMetrics computeLatentMetrics(torch::jit::Module& bundle, const Tensor& featuresIn,
                                   const LatentMetricsOptions& options) {
    checkFeatures(bundle, featuresIn, "latent metrics");
    torch::NoGradGuard noGrad;
    Tensor x = featuresIn.to(torch::kFloat64).contiguous();
    LatentMetrics m;
    m.samples = x.size(0);
    auto gen = at::detail::createCPUGenerator(options.seed);

    // encode in chunks (bounded memory)
    std::vector<Tensor> mus, lvs;
    const int64_t chunk = 20000;
    for (int64_t s = 0; s < x.size(0); s += chunk) {
        auto [mu, lv] = encodeAll(bundle, x.slice(0, s, std::min(x.size(0), s + chunk)));
        mus.push_back(mu);
        lvs.push_back(lv);
    }
    Tensor mu = torch::cat(mus), logvar = torch::cat(lvs);
    int64_t L = mu.size(1);

    Tensor jd = jdEncode(mu, logvar, std::min<int64_t>(options.batchSize, std::max<int64_t>(2, m.samples)));
    m.jdEncode.assign(jd.data_ptr<double>(), jd.data_ptr<double>() + L);
    m.jdEncodeTotal = jd.sum().item<double>();
    for (double v : m.jdEncode)
        if (std::log10(v) > -1.0) m.activeDims++;

    // aggregate posterior samples
    Tensor z = mu + torch::exp(0.5 * logvar) * torch::randn(mu.sizes(), gen, torch::kFloat64);
    Tensor logQ = call1(bundle, BundleSchema::Method::kPriorLogProb, z).to(torch::kFloat64);
    Tensor zbar = z.mean(0, true);
    const double log2pi = std::log(2.0 * M_PI);
    Tensor logN = -0.5 * ((z - zbar) * (z - zbar)).sum(1) - 0.5 * L * log2pi;
    m.klQN = (logQ - logN).mean().item<double>();
    Tensor zn = zbar + torch::randn(z.sizes(), gen, torch::kFloat64);
    double entropyN = 0.5 * L * (log2pi + 1.0);
    m.klNQ = -entropyN - call1(bundle, BundleSchema::Method::kPriorLogProb, zn).to(torch::kFloat64).mean().item<double>();
    m.jdPrior = 0.5 * (m.klQN + m.klNQ);

    m.totalCorrelation = totalCorrelation(z, logQ, options.bins, &m.marginalEntropies, &m.jointEntropy);
    return m;
}

} // namespace VAEPlugin
