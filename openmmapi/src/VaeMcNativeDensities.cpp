#include "internal/VaeMcNativeDensities.h"

#include <Eigen/Dense>

#include <algorithm>
#include <cmath>
#include <random>
#include <stdexcept>
#include <vector>

namespace VAEPlugin {

namespace {

using Eigen::MatrixXd;
using Eigen::VectorXd;
constexpr double kLn2Pi = 1.8378770664093453;

torch::Tensor tensorAttr(const torch::jit::Module& m, const char* name) {
    if (!m.hasattr(name)) throw std::runtime_error(std::string("no attribute ") + name);
    return m.attr(name).toTensor().to(torch::kFloat64).contiguous();
}

MatrixXd matrixAttr(const torch::jit::Module& m, const char* name) {
    torch::Tensor t = tensorAttr(m, name);
    if (t.dim() != 2) throw std::runtime_error(std::string(name) + " is not a matrix");
    return Eigen::Map<const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(
        t.data_ptr<double>(), t.size(0), t.size(1));
}

VectorXd vectorAttr(const torch::jit::Module& m, const char* name) {
    torch::Tensor t = tensorAttr(m, name).reshape({-1});
    return Eigen::Map<const VectorXd>(t.data_ptr<double>(), t.numel());
}

std::vector<int64_t> indexAttr(const torch::jit::Module& m, const char* name) {
    torch::Tensor t = m.attr(name).toTensor().to(torch::kLong).contiguous().reshape({-1});
    return std::vector<int64_t>(t.data_ptr<int64_t>(), t.data_ptr<int64_t>() + t.numel());
}

/** exp(-k) I0(k), k >= 0 (torch.special.i0e), in double. */
double i0e(double k) {
    if (k <= 700.0) return std::cyl_bessel_i(0.0, k) * std::exp(-k);
    // asymptotic series, terms a_n = ((2n-1)!!)^2 / (n! 8^n k^n); the sixth is below 1e-15 here
    double term = 1.0, sum = 1.0;
    for (int n = 1; n <= 6; n++) {
        term *= (2.0 * n - 1.0) * (2.0 * n - 1.0) / (8.0 * n * k);
        sum += term;
    }
    return sum / std::sqrt(2.0 * M_PI * k);
}

double softplus(double x) { return x > 20.0 ? x : std::log1p(std::exp(x)); }

/** The rational-quadratic spline of trainer/model/Flows.cpp, explicit (forward) direction, one element. */
struct Spline {
    int bins;
    double bound, minBin, minSlope, span;
    /** y and ln|dy/dx| of x with raw parameters raw[0 .. 3 bins - 2]. */
    void forward(double x, const double* raw, double& y, double& logd) const {
        const int K = bins;
        if (!(x >= -bound && x <= bound)) {  // identity outside (and NaN passes through)
            y = x;
            logd = 0;
            return;
        }
        std::vector<double> w(K), h(K), kx(K + 1), ky(K + 1), d(K + 1);
        auto softmax = [&](const double* r, std::vector<double>& out) {
            const double mx = *std::max_element(r, r + K);
            double s = 0;
            for (int i = 0; i < K; i++) s += (out[i] = std::exp(r[i] - mx));
            for (int i = 0; i < K; i++) out[i] = out[i] / s * span + minBin;
        };
        softmax(raw, w);
        softmax(raw + K, h);
        kx[0] = ky[0] = -bound;
        for (int i = 0; i < K; i++) {
            kx[i + 1] = kx[i] + w[i];
            ky[i + 1] = ky[i] + h[i];
        }
        d[0] = d[K] = 1.0;
        for (int i = 1; i < K; i++) d[i] = softplus(raw[2 * K + i - 1]) + minSlope;
        // bin: the number of interior knots <= x (searchsorted, right)
        const int idx = std::upper_bound(kx.begin() + 1, kx.begin() + K, x) - (kx.begin() + 1);
        const double wk = w[idx], hk = h[idx], d0 = d[idx], d1 = d[idx + 1];
        const double s = hk / wk, c2 = (d1 + d0) - (s + s);
        const double xi = (x - kx[idx]) / wk, omx = 1.0 - xi, t = xi * omx;
        const double den = s + c2 * t;
        y = ky[idx] + hk * (d0 * t + s * xi * xi) / den;
        const double num = d1 * xi * xi + 2.0 * s * t + d0 * omx * omx, r = s / den;
        logd = std::log(num * r * r);
    }
};

/** A RealNVP coupling block of the prior (trainer/model/Flows.cpp). */
struct Coupling {
    MatrixXd w1, w2;
    VectorXd b1, b2;
    bool constantInput, transformSecond;
    int split, numTransformed;
    Spline spline;
    /** The normalising direction z -> eps in place; returns ln|det|. */
    double inverse(VectorXd& x) const {
        const int L = x.size(), nc = constantInput ? 0 : L - numTransformed;
        const int c0 = transformSecond ? 0 : split, t0 = constantInput ? 0 : (transformSecond ? split : 0);
        VectorXd c = constantInput ? VectorXd::Ones(1) : VectorXd(x.segment(c0, nc));
        VectorXd p = w2 * (w1 * c + b1).cwiseMax(0.0) + b2;
        const int np = 3 * spline.bins - 1;
        double ld = 0;
        for (int j = 0; j < numTransformed; j++) {
            double y, l;
            spline.forward(x[t0 + j], p.data() + j * np, y, l);
            x[t0 + j] = y;
            ld += l;
        }
        return ld;
    }
};

} // namespace

class VaeMcNativeDensities::Impl {
public:
    int L = 0, D = 0, P = 0;
    // prior
    std::vector<Coupling> blocks;
    // decoder: base network of z, optional MADE, output layout [loc (D), s (P), logvar (D)]
    MatrixXd w1, w2, wOut;
    VectorXd b1, b2, bOut;
    bool fixedVariance = false, autoregressive = false;
    MatrixXd madeHidden, madeHiddenSkip, madeOut, madeOutSkip;  // masked weights
    VectorXd madeHiddenBias, madeOutBias;
    std::vector<int64_t> periodic;
    std::vector<char> isPeriodic;
    VectorXd featureMean, featureScale;
    double logScaleSum = 0;
    // the configuration of setFeatures
    VectorXd x, madeHiddenOfX;

    void load(torch::jit::Module& bundle) {
        torch::jit::Module model = bundle.attr("model").toModule();
        torch::jit::Module prior = model.attr("prior").toModule(), decoder = model.attr("decoder").toModule();
        L = prior.attr("dim").toInt();
        const int nb = prior.attr("num_blocks").toInt();
        for (int k = 0; k < nb; k++) {
            torch::jit::Module b = prior.attr("block" + std::to_string(k)).toModule();
            torch::jit::Module s = b.attr("spline").toModule();
            Coupling c{matrixAttr(b, "hidden_weight"), matrixAttr(b, "out_weight"), vectorAttr(b, "hidden_bias"),
                       vectorAttr(b, "out_bias"), b.attr("constant_input").toBool(), b.attr("transform_second").toBool(),
                       (int) b.attr("split").toInt(), (int) b.attr("num_transformed").toInt(),
                       Spline{(int) s.attr("num_bins").toInt(), s.attr("bound").toDouble(), s.attr("min_bin").toDouble(),
                              s.attr("min_slope").toDouble(), s.attr("span").toDouble()}};
            blocks.push_back(c);
        }
        if (decoder.hasattr("flow") || !decoder.hasattr("hidden2_weight"))
            throw std::runtime_error("not a decoder of the base-network kind");
        D = decoder.attr("num_features").toInt();
        P = decoder.attr("num_periodic").toInt();
        fixedVariance = decoder.attr("fixed_variance").toBool();
        w1 = matrixAttr(decoder, "hidden1_weight");
        w2 = matrixAttr(decoder, "hidden2_weight");
        wOut = matrixAttr(decoder, "out_weight");
        b1 = vectorAttr(decoder, "hidden1_bias");
        b2 = vectorAttr(decoder, "hidden2_bias");
        bOut = vectorAttr(decoder, "out_bias");
        autoregressive = decoder.hasattr("made_hidden_weight");
        if (autoregressive) {
            madeHidden = matrixAttr(decoder, "made_hidden_weight").cwiseProduct(matrixAttr(decoder, "made_hidden_mask"));
            madeHiddenSkip = matrixAttr(decoder, "made_hidden_skip_weight");
            madeHiddenBias = vectorAttr(decoder, "made_hidden_bias");
            madeOut = matrixAttr(decoder, "made_out_weight").cwiseProduct(matrixAttr(decoder, "made_out_mask"));
            madeOutSkip = matrixAttr(decoder, "made_out_skip_weight");
            madeOutBias = vectorAttr(decoder, "made_out_bias");
        }
        periodic = indexAttr(decoder.attr("dist").toModule(), "periodic_index");
        isPeriodic.assign(D, 0);
        for (int64_t i : periodic) isPeriodic.at(i) = 1;
        featureMean = vectorAttr(bundle, "feature_mean");
        featureScale = vectorAttr(bundle, "feature_scale");
        if ((int) periodic.size() != P || featureMean.size() != D || featureScale.size() != D ||
            wOut.rows() != (fixedVariance ? D + P : 2 * D + P))
            throw std::runtime_error("inconsistent decoder sizes");
        logScaleSum = featureScale.array().log().sum();
        x = VectorXd::Zero(D);
    }

    void setFeatures(const double* features) {
        x = (Eigen::Map<const VectorXd>(features, D) - featureMean).cwiseQuotient(featureScale);
        if (autoregressive) {
            VectorXd wrapped = x;
            for (int64_t i : periodic)  // dist.wrap: remainder(x + pi, 2 pi) - pi
                wrapped[i] = x[i] + M_PI - 2.0 * M_PI * std::floor((x[i] + M_PI) / (2.0 * M_PI)) - M_PI;
            madeHiddenOfX = madeHidden * wrapped + madeHiddenBias;
        }
    }

    double priorLogProb(const double* zp) const {
        VectorXd e = Eigen::Map<const VectorXd>(zp, L);
        double ld = 0;
        for (int k = (int) blocks.size(); k-- > 0;) ld += blocks[k].inverse(e);
        return -0.5 * e.squaredNorm() - 0.5 * L * kLn2Pi + ld;
    }

    double decoderLogProb(const double* zp) const {
        Eigen::Map<const VectorXd> z(zp, L);
        VectorXd out = wOut * (w2 * (w1 * z + b1).array().tanh().matrix() + b2).array().tanh().matrix() + bOut;
        if (autoregressive) {
            VectorXd h = (madeHiddenOfX + madeHiddenSkip * z).array().tanh();
            out += madeOut * h + madeOutSkip * z + madeOutBias;
        }
        double lp = 0;
        for (int k = 0; k < P; k++) {
            const int64_t i = periodic[k];
            const double lv = fixedVariance ? 0.0 : std::max(out[D + P + i], -15.0);
            const double kappa = std::exp(-lv), mean = std::atan2(out[D + k], out[i]);
            lp += kappa * (std::cos(x[i] - mean) - 1.0) - std::log(i0e(kappa));
        }
        lp -= P * kLn2Pi;
        for (int i = 0; i < D; i++) {
            if (isPeriodic[i]) continue;
            const double lv = fixedVariance ? 0.0 : std::max(out[D + P + i], -15.0), dx = x[i] - out[i];
            lp -= 0.5 * (dx * dx * std::exp(-lv) + lv);
        }
        lp -= 0.5 * kLn2Pi * (D - P);
        return lp - logScaleSum;
    }
};

VaeMcNativeDensities::VaeMcNativeDensities(std::unique_ptr<Impl> i) : impl(std::move(i)) {}
VaeMcNativeDensities::~VaeMcNativeDensities() = default;
int VaeMcNativeDensities::latentSize() const { return impl->L; }
int VaeMcNativeDensities::numFeatures() const { return impl->D; }
void VaeMcNativeDensities::setFeatures(const double* x) { impl->setFeatures(x); }
double VaeMcNativeDensities::priorLogProb(const double* z) const { return impl->priorLogProb(z); }
double VaeMcNativeDensities::decoderLogProb(const double* z) const { return impl->decoderLogProb(z); }

double VaeMcNativeDensities::encoderLogProb(const double* z, const double* mu, const double* logvar) const {
    double s = 0;
    for (int k = 0; k < impl->L; k++) {
        const double d = z[k] - mu[k];
        s += d * d * std::exp(-logvar[k]) + logvar[k];
    }
    return -0.5 * s - 0.5 * impl->L * kLn2Pi;
}

std::unique_ptr<VaeMcNativeDensities> VaeMcNativeDensities::tryCreate(torch::jit::Module& bundle) {
    try {
        auto impl = std::make_unique<Impl>();
        impl->load(bundle);
        std::unique_ptr<VaeMcNativeDensities> native(new VaeMcNativeDensities(std::move(impl)));
        // the same numbers as the bundle's own methods on random features and latents, or nothing
        torch::NoGradGuard noGrad;
        const int L = native->latentSize(), D = native->numFeatures(), n = 6;
        const auto opts = torch::TensorOptions().dtype(torch::kFloat64);
        std::mt19937_64 rng(12345);
        std::normal_distribution<double> normal;
        torch::Tensor x = torch::empty({n, D}, opts), z = torch::empty({n, L}, opts);
        for (int r = 0; r < n; r++) {
            for (int i = 0; i < D; i++)
                x[r][i] = native->impl->featureMean[i] + native->impl->featureScale[i] * normal(rng);
            for (int k = 0; k < L; k++) z[r][k] = (1.0 + r) * normal(rng);
        }
        auto enc = bundle.get_method("encode")({x}).toTuple();
        torch::Tensor mu = enc->elements()[0].toTensor().to(torch::kFloat64).contiguous();
        torch::Tensor lv = enc->elements()[1].toTensor().to(torch::kFloat64).contiguous();
        auto column = [](const c10::IValue& v) { return v.toTensor().to(torch::kFloat64).contiguous().reshape({-1}); };
        torch::Tensor q = column(bundle.get_method("encoder_log_prob")({z, mu, lv}));
        torch::Tensor prior = column(bundle.get_method("prior_log_prob")({z}));
        torch::Tensor dec = column(bundle.get_method("decoder_log_prob")({x, z}));
        auto close = [](double a, double b) { return std::isfinite(b) && std::abs(a - b) <= 1e-8 * (1.0 + std::abs(b)); };
        for (int r = 0; r < n; r++) {
            const double* zr = z.data_ptr<double>() + r * L;
            native->setFeatures(x.data_ptr<double>() + r * D);
            if (!close(native->encoderLogProb(zr, mu.data_ptr<double>() + r * L, lv.data_ptr<double>() + r * L),
                       q[r].item<double>()) ||
                !close(native->priorLogProb(zr), prior[r].item<double>()) ||
                !close(native->decoderLogProb(zr), dec[r].item<double>()))
                return nullptr;
        }
        return native;
    }
    catch (const std::exception&) {  // c10::Error included: an attribute or method it does not have
        return nullptr;
    }
}

} // namespace VAEPlugin
