#include "NativeDecoder.h"
#include "DensitySpecEigen.h"
#include "NativeDense.h"
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
    logFeatureScale = featureScale.array().log();
    logScaleSum = logFeatureScale.sum();
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
    VectorXd h = denseTanh((w1 * z + b1).array());
    if (w2.rows() > 0) h = denseTanh(denseAffine(w2, h.data(), b2).array());
    return denseAffine(wOut, h.data(), bOut);
}

void NativeDecoder::baseOut2(const double* zp0, const double* zp1, Eigen::VectorXd& out0, Eigen::VectorXd& out1) const {
    Eigen::Map<const VectorXd> z0(zp0, L), z1(zp1, L);
    VectorXd h0 = denseTanh((w1 * z0 + b1).array()), h1 = denseTanh((w1 * z1 + b1).array());
    if (w2.rows() > 0) {
        VectorXd a0 = b2, a1 = b2;
        denseMultiplyAdd2(w2.rows(), w2.cols(), w2.data(), w2.rows(), h0.data(), h1.data(), a0.data(), a1.data());
        h0 = denseTanh(a0.array());
        h1 = denseTanh(a1.array());
    }
    out0 = bOut;
    out1 = bOut;
    denseMultiplyAdd2(wOut.rows(), wOut.cols(), wOut.data(), wOut.rows(), h0.data(), h1.data(), out0.data(), out1.data());
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
        Eigen::Map<VectorXd>(p.hidden.data(), p.hidden.size()) = denseAffine(madeHidden, c.data(), madeHiddenBias);
    }
    return p;
}

double NativeDecoder::logProb(const Prepared& x, const double* z) const {
    if (kind == DecoderKind::Autoregressive) return logProbFrom(x, z, 0);
    if (kind == DecoderKind::Flow) return flowLogProb(x.x.data(), z) - logScaleSum;
    return independentLogProb(x, baseOut(z));
}

double NativeDecoder::independentLogProb(const Prepared& x, const Eigen::VectorXd& head) const {
    double lp = 0, p[4];
    for (int i = 0; i < D; i++) {
        gatherBase(head, i, p);
        lp += featureLogProb(i, multiplicity[i] * x.x[i], p);
    }
    return lp - logScaleSum;
}

double NativeDecoder::independentSample(const Eigen::VectorXd& head, UniformSource& u, double* x) const {
    double p[4], lp = 0;
    for (int i = 0; i < D; i++) {
        gatherBase(head, i, p);
        const double xi = applyRotor(drawFeature(i, p, u), multiplicity[i], u, i);
        lp += featureLogProb(i, multiplicity[i] * xi, p);
        x[i] = xi * featureScale[i] + featureMean[i];
    }
    return lp - logScaleSum;
}

std::pair<double, double> NativeDecoder::moveTerms(const Prepared& x, const double* z, const double* zp, int first,
                                                   UniformSource& u, double* xp) const {
    if (first != 0 && kind != DecoderKind::Autoregressive)
        throw std::logic_error("NativeDecoder::moveTerms: only the autoregressive decoder has the terms of a partial move");
    if (first < 0 || first > D) throw std::invalid_argument("NativeDecoder::moveTerms: first = " + std::to_string(first) + " is not in [0, D]");
    if (kind == DecoderKind::Flow) {  // the flow's heads feed its MAF blocks: no pass to share
        const double state = logProb(x, z);
        return {state, sample(zp, u, xp)};
    }
    VectorXd head, headProposal;
    baseOut2(z, zp, head, headProposal);
    if (kind == DecoderKind::Autoregressive)
        return {autoregressiveLogProb(x, z, first, head), autoregressiveSample(zp, first, u, xp, headProposal)};
    return {independentLogProb(x, head), independentSample(headProposal, u, xp)};
}

double NativeDecoder::logProbFrom(const Prepared& x, const double* zp, int first) const {
    if (kind != DecoderKind::Autoregressive) throw std::logic_error("NativeDecoder::logProbFrom: the decoder is not autoregressive");
    if (first < 0 || first > D) throw std::invalid_argument("NativeDecoder::logProbFrom: first = " + std::to_string(first) + " is not in [0, D]");
    if (first == D) return 0.0;
    return autoregressiveLogProb(x, zp, first, baseOut(zp));
}

double NativeDecoder::autoregressiveLogProb(const Prepared& x, const double* zp, int first, const Eigen::VectorXd& head) const {
    if (first == D) return 0.0;
    Eigen::Map<const VectorXd> z(zp, L);
    const VectorXd h = denseTanh((Eigen::Map<const VectorXd>(x.hidden.data(), x.hidden.size()) + madeHiddenSkip * z).array());
    const int r0 = paramStart[first], n = paramStart[D] - r0;
    // the output rows of features >= first only
    VectorXd out = head.segment(r0, n) + madeOutSkip.middleRows(r0, n) * z + madeOutBias.segment(r0, n);
    denseRowsMultiplyAdd(madeOut, r0, n, madeOut.cols(), h.data(), out.data());
    double lp = 0;
    for (int i = first; i < D; i++)
        lp += featureLogProb(i, multiplicity[i] * x.x[i], out.data() + paramStart[i] - r0) - logFeatureScale[i];
    return lp;
}

double NativeDecoder::sample(const double* z, UniformSource& u, double* x) const {
    if (kind == DecoderKind::Autoregressive) return autoregressiveSample(z, 0, u, x, baseOut(z));
    if (kind == DecoderKind::Flow) {
        flowSample(z, u, x);
        for (int i = 0; i < D; i++) x[i] = x[i] * featureScale[i] + featureMean[i];
        // the flow's density needs the inverse pass: one evaluation, as logProb
        return logProb(prepare(x), z);
    }
    return independentSample(baseOut(z), u, x);
}

double NativeDecoder::sampleFrom(const double* z, int first, UniformSource& u, double* x) const {
    if (kind != DecoderKind::Autoregressive) throw std::logic_error("NativeDecoder::sampleFrom: the decoder is not autoregressive");
    if (first < 0 || first > D) throw std::invalid_argument("NativeDecoder::sampleFrom: first = " + std::to_string(first) + " is not in [0, D]");
    return autoregressiveSample(z, first, u, x, baseOut(z));
}

double NativeDecoder::autoregressiveSample(const double* zp, int first, UniformSource& u, double* x, const Eigen::VectorXd& head) const {
    // Feature by feature, each hidden unit's tanh once (as the bundle's sampler): hidden degrees ascend,
    // the units of degree i see only features < i, so they are final when feature i is drawn, and
    // feature i's outputs see only the units of degree <= i, [0, start[i + 1]). A feature's conditioner
    // columns are added only to the units not yet final (the others' mask is 0 there).
    Eigen::Map<const VectorXd> z(zp, L);
    const int H = madeHidden.rows();
    VectorXd pre = madeHiddenBias + madeHiddenSkip * z, h(H);
    const VectorXd out = head + madeOutSkip * z + madeOutBias;
    int final = 0;  // units [0, final) have their tanh in h
    double c[2], lp = 0;
    auto addColumns = [&](int i, double xi) {
        const int n = conditionerColumns(i, xi, c);
        for (int j = 0; j < n; j++) pre.tail(H - final) += madeHidden.col(conditionerStart[i] + j).tail(H - final) * c[j];
    };
    for (int i = 0; i < first; i++) addColumns(i, (x[i] - featureMean[i]) / featureScale[i]);
    VectorXd params;
    for (int i = first; i < D; i++) {
        const int upto = hiddenGroupStart[i + 1];
        if (upto > final) {
            h.segment(final, upto - final) = denseTanh(pre.segment(final, upto - final).array());
            final = upto;
        }
        const int r0 = paramStart[i], n = paramStart[i + 1] - r0;
        params = out.segment(r0, n);
        denseRowsMultiplyAdd(madeOut, r0, n, upto, h.data(), params.data());
        const double xi = applyRotor(drawFeature(i, params.data(), u), multiplicity[i], u, i);
        // the density of what was drawn, as logProbFrom adds it up
        lp += featureLogProb(i, multiplicity[i] * xi, params.data()) - logFeatureScale[i];
        addColumns(i, xi);
        x[i] = xi * featureScale[i] + featureMean[i];
    }
    return lp;
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
    const VectorXd h = denseTanh((denseAffine(b.hidden, c.data(), b.hiddenBias) + b.hiddenSkip * z).array());
    const VectorXd p = denseAffine(b.out, h.data(), b.outBias) + b.outSkip * z;
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
    VectorXd p, h;
    for (int k = 0; k < D; k++) {
        const int i = b.reversed ? D - 1 - k : k;
        h = denseTanh(pre.array());
        p = oz.segment(i * R, R);
        denseMultiplyAdd(b.out, i * R, R, b.out.cols(), h.data(), p.data());
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
