#include "NativeDecoder.h"
#include "DensitySpecEigen.h"
#include "NativeDistributions.h"
#include <cmath>
#include <stdexcept>
#include <string>

using namespace VAEPlugin;
using Eigen::MatrixXd;
using Eigen::VectorXd;

NativeDecoder::NativeDecoder(const VAEDensitySpec& spec)
    : kind(spec.decoderKind), L(spec.latent), D(spec.numFeatures), P(spec.numPeriodic),
      K(spec.autoregressive ? spec.numComponents : 1), firstPeriodic(spec.numFeatures), w1(toEigen(spec.hidden1Weight)),
      w2(toEigen(spec.hidden2Weight)), wOut(toEigen(spec.outWeight)), b1(toEigen(spec.hidden1Bias)),
      b2(toEigen(spec.hidden2Bias)), bOut(toEigen(spec.outBias)), fixedVariance(spec.fixedVariance),
      featureMean(toEigen(spec.featureMean)), featureScale(toEigen(spec.featureScale)) {
    isPeriodic.assign(D, 0);
    periodicRank.assign(D, -1);
    for (int k = 0; k < P; k++) {
        isPeriodic.at(spec.periodicIndex[k]) = 1;
        periodicRank.at(spec.periodicIndex[k]) = k;
    }
    for (int i = D; i-- > 0;)
        if (isPeriodic[i]) firstPeriodic = i;
    multiplicity.assign(spec.multiplicity.begin(), spec.multiplicity.end());
    if ((int) multiplicity.size() != D) throw std::invalid_argument("NativeDecoder: multiplicity of the wrong size");
    logScaleSum = featureScale.array().log().sum();
    // conditioner columns interleaved in feature order (spec section 1): the only layout native code reads
    std::vector<int64_t> expected;
    conditionerStart.assign(D + 1, 0);
    for (int i = 0; i < D; i++) {
        if (isPeriodic[i]) {
            expected.push_back(D + periodicRank[i]);
            expected.push_back(D + P + periodicRank[i]);
        } else {
            expected.push_back(i);
        }
        conditionerStart[i + 1] = expected.size();
    }
    if (kind == DecoderKind::Autoregressive) {
        if (spec.conditionerIndex != expected)
            throw std::invalid_argument("NativeDecoder: conditioner_index is not in feature order");
        madeHidden = toEigen(spec.madeHiddenWeight);
        madeHiddenSkip = toEigen(spec.madeHiddenSkipWeight);
        madeHiddenBias = toEigen(spec.madeHiddenBias);
        madeOut = toEigen(spec.madeOutWeight);
        madeOutSkip = toEigen(spec.madeOutSkipWeight);
        madeOutBias = toEigen(spec.madeOutBias);
        paramStart.assign(spec.paramStart.begin(), spec.paramStart.end());
        hiddenGroupStart.assign(spec.hiddenGroupStart.begin(), spec.hiddenGroupStart.end());
    }
    if (kind == DecoderKind::Flow) {
        for (const VAEDensitySpec::MAFBlock& b : spec.decoderFlow) {
            if (b.conditionerIndex != expected)
                throw std::invalid_argument("NativeDecoder: a MAF block's conditioner_index is not in feature order");
            MAFBlock block;
            block.hidden = toEigen(b.hiddenWeight);
            block.hiddenSkip = toEigen(b.hiddenSkipWeight);
            block.out = toEigen(b.outWeight);
            block.outSkip = toEigen(b.outSkipWeight);
            block.hiddenBias = toEigen(b.hiddenBias);
            block.outBias = toEigen(b.outBias);
            block.reversed = b.reversed;
            block.rawPerFeature = b.rawPerFeature;
            NativeRQSpline s = NativeRQSpline::of(b.spline);
            block.spline = s;
            s.circular = b.spline.circular;
            block.circularSpline = s;
            flow.push_back(std::move(block));
        }
        domainScale = spec.domainScale;
    }
}

NativeDecoder::~NativeDecoder() = default;

Eigen::VectorXd NativeDecoder::baseOut(const double* zp) const {
    Eigen::Map<const VectorXd> z(zp, L);
    VectorXd h = (w1 * z + b1).array().tanh();
    if (w2.rows() > 0) h = (w2 * h + b2).array().tanh().matrix();
    return wOut * h + bOut;
}

void NativeDecoder::gatherBase(const Eigen::VectorXd& out, int i, double* p) const {
    // [loc (D), s (P), logvar (D)] -> periodic [logit, c, s, logvar], non-periodic [loc, logvar]
    const double logvar = fixedVariance ? 0.0 : out[D + P + i];
    if (isPeriodic[i]) {
        p[0] = 0.0;
        p[1] = out[i];
        p[2] = out[D + periodicRank[i]];
        p[3] = logvar;
    } else {
        p[0] = out[i];
        p[1] = logvar;
    }
}

double NativeDecoder::featureLogProb(int i, double u, const double* params) const {
    return isPeriodic[i] ? vonMisesMixtureLogProb(u, params, K) : gaussianLogProb(u, params[0], params[1]);
}

double NativeDecoder::drawFeature(int i, const double* params, UniformSource& u) const {
    return isPeriodic[i] ? sampleVonMisesMixture(params, K, u, i) : sampleGaussian(params[0], params[1], u, i);
}

int NativeDecoder::conditionerColumns(int i, double xi, double* c) const {
    if (!isPeriodic[i]) {
        c[0] = xi;
        return 1;
    }
    const double u = multiplicity[i] * xi;  // cos and sin of m x: any branch of u
    c[0] = std::cos(u);
    c[1] = std::sin(u);
    return 2;
}

NativeDecoder::Prepared NativeDecoder::prepare(const double* features) const {
    Prepared p;
    p.x.resize(D);
    for (int i = 0; i < D; i++) p.x[i] = (features[i] - featureMean[i]) / featureScale[i];
    if (kind == DecoderKind::Autoregressive) {
        VectorXd c(D + P);
        for (int i = 0; i < D; i++) conditionerColumns(i, p.x[i], c.data() + conditionerStart[i]);
        p.hidden.resize(madeHidden.rows());
        Eigen::Map<VectorXd>(p.hidden.data(), p.hidden.size()) = madeHidden * c + madeHiddenBias;
    }
    return p;
}

double NativeDecoder::logProb(const Prepared& x, const double* z) const {
    if (kind == DecoderKind::Autoregressive) return logProbFrom(x, z, 0);
    if (kind == DecoderKind::Flow) return flowLogProb(x.x.data(), z) - logScaleSum;
    const VectorXd out = baseOut(z);
    double lp = 0, p[4];
    for (int i = 0; i < D; i++) {
        gatherBase(out, i, p);
        lp += featureLogProb(i, multiplicity[i] * x.x[i], p);
    }
    return lp - logScaleSum;
}

double NativeDecoder::logProbFrom(const Prepared& x, const double* zp, int first) const {
    if (kind != DecoderKind::Autoregressive) throw std::logic_error("NativeDecoder::logProbFrom: the decoder is not autoregressive");
    if (first < 0 || first > D) throw std::invalid_argument("NativeDecoder::logProbFrom: first = " + std::to_string(first) + " is not in [0, D]");
    if (first == D) return 0.0;
    Eigen::Map<const VectorXd> z(zp, L);
    const VectorXd h = (Eigen::Map<const VectorXd>(x.hidden.data(), x.hidden.size()) + madeHiddenSkip * z).array().tanh();
    const int r0 = paramStart[first], n = paramStart[D] - r0;
    // the base head of the rows of features >= first only
    VectorXd hb = (w1 * z + b1).array().tanh();
    hb = (w2 * hb + b2).array().tanh().matrix();
    const VectorXd out = wOut.middleRows(r0, n) * hb + bOut.segment(r0, n) + madeOut.middleRows(r0, n) * h +
                         madeOutSkip.middleRows(r0, n) * z + madeOutBias.segment(r0, n);
    double lp = 0;
    for (int i = first; i < D; i++)
        lp += featureLogProb(i, multiplicity[i] * x.x[i], out.data() + paramStart[i] - r0) - std::log(featureScale[i]);
    return lp;
}

void NativeDecoder::sample(const double* z, UniformSource& u, double* x) const {
    if (kind == DecoderKind::Autoregressive) {
        autoregressiveSample(z, 0, u, x);
        return;
    }
    if (kind == DecoderKind::Flow) {
        flowSample(z, u, x);
    } else {
        const VectorXd out = baseOut(z);
        double p[4];
        for (int i = 0; i < D; i++) {
            gatherBase(out, i, p);
            x[i] = applyRotor(drawFeature(i, p, u), multiplicity[i], u, i);
        }
    }
    for (int i = 0; i < D; i++) x[i] = x[i] * featureScale[i] + featureMean[i];
}

void NativeDecoder::sampleFrom(const double* z, int first, UniformSource& u, double* x) const {
    if (kind != DecoderKind::Autoregressive) throw std::logic_error("NativeDecoder::sampleFrom: the decoder is not autoregressive");
    if (first < 0 || first > D) throw std::invalid_argument("NativeDecoder::sampleFrom: first = " + std::to_string(first) + " is not in [0, D]");
    autoregressiveSample(z, first, u, x);
}

void NativeDecoder::autoregressiveSample(const double* zp, int first, UniformSource& u, double* x) const {
    // Feature by feature, each hidden unit's tanh once (as the bundle's sampler): hidden degrees ascend,
    // the units of degree i see only features < i, so they are final when feature i is drawn, and
    // feature i's outputs see only the units of degree <= i, [0, start[i + 1]). A feature's conditioner
    // columns are added only to the units not yet final (the others' mask is 0 there).
    Eigen::Map<const VectorXd> z(zp, L);
    const int H = madeHidden.rows();
    VectorXd pre = madeHiddenBias + madeHiddenSkip * z, h(H);
    const VectorXd out = baseOut(zp) + madeOutSkip * z + madeOutBias;
    int final = 0;  // units [0, final) have their tanh in h
    double c[2];
    auto addColumns = [&](int i, double xi) {
        const int n = conditionerColumns(i, xi, c);
        for (int j = 0; j < n; j++) pre.tail(H - final) += madeHidden.col(conditionerStart[i] + j).tail(H - final) * c[j];
    };
    for (int i = 0; i < first; i++) addColumns(i, (x[i] - featureMean[i]) / featureScale[i]);
    VectorXd params;
    for (int i = first; i < D; i++) {
        const int upto = hiddenGroupStart[i + 1];
        if (upto > final) {
            h.segment(final, upto - final) = pre.segment(final, upto - final).array().tanh();
            final = upto;
        }
        const int r0 = paramStart[i], n = paramStart[i + 1] - r0;
        params = out.segment(r0, n) + madeOut.block(r0, 0, n, upto) * h.head(upto);
        const double xi = applyRotor(drawFeature(i, params.data(), u), multiplicity[i], u, i);
        addColumns(i, xi);
        x[i] = xi * featureScale[i] + featureMean[i];
    }
}

double NativeDecoder::flowLogProb(const double* xs, const double* zp) const {
    // to the spline domain: wrap(m x) for periodic features, x * scale for the others
    VectorXd y(D);
    for (int i = 0; i < D; i++) y[i] = (isPeriodic[i] ? wrapAngle(multiplicity[i] * xs[i]) : xs[i]) * domainScale[i];
    double ld = 0;
    for (int b = (int) flow.size(); b-- > 0;) ld += mafInverse(flow[b], y, zp);
    const VectorXd out = baseOut(zp);
    double lp = ld, p[4];
    for (int i = 0; i < D; i++) {
        gatherBase(out, i, p);
        lp += featureLogProb(i, y[i] / domainScale[i], p);
    }
    return lp;
}

double NativeDecoder::mafInverse(const MAFBlock& b, Eigen::VectorXd& y, const double* zp) const {
    Eigen::Map<const VectorXd> z(zp, L);
    VectorXd c(D + P);
    for (int i = 0; i < D; i++) {
        if (isPeriodic[i]) {  // the block's input is already the angle in the domain
            c[conditionerStart[i]] = std::cos(y[i]);
            c[conditionerStart[i] + 1] = std::sin(y[i]);
        } else {
            c[conditionerStart[i]] = y[i];
        }
    }
    const VectorXd h = (b.hidden * c + b.hiddenBias + b.hiddenSkip * z).array().tanh();
    const VectorXd p = b.out * h + b.outBias + b.outSkip * z;
    double ld = 0;
    for (int i = 0; i < D; i++) {
        double v, l;
        (isPeriodic[i] ? b.circularSpline : b.spline).forward(y[i], p.data() + i * b.rawPerFeature, v, l);
        y[i] = v;
        ld += l;
    }
    return ld;
}

void NativeDecoder::mafForward(const MAFBlock& b, Eigen::VectorXd& y, const double* zp) const {
    Eigen::Map<const VectorXd> z(zp, L);
    VectorXd pre = b.hiddenBias + b.hiddenSkip * z;
    const VectorXd oz = b.outBias + b.outSkip * z;
    const int R = b.rawPerFeature;
    VectorXd p;
    for (int k = 0; k < D; k++) {
        const int i = b.reversed ? D - 1 - k : k;
        p = oz.segment(i * R, R) + b.out.middleRows(i * R, R) * pre.array().tanh().matrix();
        const double v = (isPeriodic[i] ? b.circularSpline : b.spline).inverse(y[i], p.data());
        y[i] = v;
        if (isPeriodic[i]) {
            pre += b.hidden.col(conditionerStart[i]) * std::cos(v) + b.hidden.col(conditionerStart[i] + 1) * std::sin(v);
        } else {
            pre += b.hidden.col(conditionerStart[i]) * v;
        }
    }
}

void NativeDecoder::flowSample(const double* zp, UniformSource& u, double* x) const {
    const VectorXd out = baseOut(zp);
    VectorXd y(D);
    double p[4];
    for (int i = 0; i < D; i++) {
        gatherBase(out, i, p);
        y[i] = drawFeature(i, p, u) * domainScale[i];
    }
    for (const MAFBlock& b : flow) mafForward(b, y, zp);
    // the rotor branch after the flow (spec section 3)
    for (int i = 0; i < D; i++) x[i] = applyRotor(y[i] / domainScale[i], multiplicity[i], u, i);
}
