// vae-roofline: this CPU's bounds for the dense products of the native CV (FMA peak, L1 and L2 read
// bandwidth, one core) and what the dense kernels and the whole CV evaluation reach, per instruction
// set the library runs here. See bench/README.md ("Roofline").
//
//     vae-roofline [--bundle model.pt] [--repeats 5]
//
// Bounds: independent multiply-add chains on registers (peak), sums over a 16 KiB and a 256 KiB
// float array (L1, L2). A dense product of float32 weights does one multiply-add per 4 bytes of
// weights read, so with weights in L2 its bound is min(peak, L2 bytes/s / 4) MAC/s.

#include "NativeCVEvaluator.h"
#include "NativeSelfCheck.h"
#include "VAEModelBundle.h"
#include "isa/DenseKernels.h"
#include <CLI/CLI.hpp>
#include <ctime>
#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

using namespace VAEPlugin;

namespace {

volatile float sink;

// The bound kernels, written once and compiled per instruction set through the target attribute of
// their callers (inlined into each).
template <int Lanes>
inline __attribute__((always_inline)) float fmaChains(long iterations) {
    float acc[8][Lanes], m[Lanes], a[Lanes];
    for (int l = 0; l < Lanes; l++) {
        m[l] = 0.9999f + 1e-7f * l;
        a[l] = 1e-6f;
        for (int c = 0; c < 8; c++) acc[c][l] = (float) c;
    }
    for (long i = 0; i < iterations; i++)
        for (int c = 0; c < 8; c++)
            for (int l = 0; l < Lanes; l++) acc[c][l] = acc[c][l] * m[l] + a[l];
    float s = 0;
    for (int c = 0; c < 8; c++)
        for (int l = 0; l < Lanes; l++) s += acc[c][l];
    return s;
}

template <int Lanes>
inline __attribute__((always_inline)) float readSum(const float* data, int n, int passes) {
    float acc[4][Lanes] = {};
    for (int p = 0; p < passes; p++)
        for (int i = 0; i + 4 * Lanes <= n; i += 4 * Lanes)
            for (int c = 0; c < 4; c++)
                for (int l = 0; l < Lanes; l++) acc[c][l] += data[i + c * Lanes + l];
    float s = 0;
    for (int c = 0; c < 4; c++)
        for (int l = 0; l < Lanes; l++) s += acc[c][l];
    return s;
}

float fmaBaseline(long n) { return fmaChains<4>(n); }
float readBaseline(const float* d, int n, int p) { return readSum<4>(d, n, p); }
#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("arch=x86-64-v3"))) float fmaV3(long n) { return fmaChains<8>(n); }
__attribute__((target("arch=x86-64-v3"))) float readV3(const float* d, int n, int p) { return readSum<8>(d, n, p); }
__attribute__((target("arch=x86-64-v4,prefer-vector-width=512"))) float fmaV4(long n) { return fmaChains<16>(n); }
__attribute__((target("arch=x86-64-v4,prefer-vector-width=512"))) float readV4(const float* d, int n, int p) { return readSum<16>(d, n, p); }
#endif

// CPU seconds of this thread (time while other processes hold the core does not count), best of repeats.
double threadSeconds() {
    timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

template <class F>
double bestSeconds(int repeats, F f) {
    double best = 1e30;
    for (int r = 0; r < repeats; r++) {
        double t0 = threadSeconds();
        f();
        best = std::min(best, threadSeconds() - t0);
    }
    return best;
}

struct Bounds {
    double peakGmac, l1GBs, l2GBs;
};

Bounds measureBounds(const std::string& set, int repeats) {
    float (*fma)(long) = fmaBaseline;
    float (*read)(const float*, int, int) = readBaseline;
    int lanes = 4;
#if defined(__x86_64__) && defined(__GNUC__)
    if (set == "x86-64-v3") fma = fmaV3, read = readV3, lanes = 8;
    if (set == "x86-64-v4") fma = fmaV4, read = readV4, lanes = 16;
#endif
    Bounds b;
    const long iterations = 2000000;
    b.peakGmac = 8.0 * lanes * iterations / bestSeconds(repeats, [&] { sink = fma(iterations); }) * 1e-9;
    std::vector<float> data(256 * 1024 / sizeof(float), 1.0f);
    const int l1n = 16 * 1024 / sizeof(float), l1passes = 20000, l2n = data.size(), l2passes = 1000;
    b.l1GBs = 4.0 * l1n * l1passes / bestSeconds(repeats, [&] { sink = read(data.data(), l1n, l1passes); }) * 1e-9;
    b.l2GBs = 4.0 * l2n * l2passes / bestSeconds(repeats, [&] { sink = read(data.data(), l2n, l2passes); }) * 1e-9;
    return b;
}

} // namespace

int main(int argc, char** argv) {
    CLI::App app("vae-roofline: FMA peak, L1/L2 bandwidth and the dense kernels' GMAC/s, per instruction set");
    std::string bundlePath;
    int repeats = 5;
    app.add_option("--bundle", bundlePath, "a bundle whose CV evaluation (forward + backward) is timed as well");
    app.add_option("--repeats", repeats, "timed repeats (the best counts)");
    CLI11_PARSE(app, argc, argv);

    std::mt19937 rng(1);
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    const int n = 300;
    std::vector<float> w(n * n), x(n), y(n), g(n), out(n);
    for (float& v : w) v = u(rng);
    for (float& v : x) v = u(rng);
    for (float& v : g) v = u(rng);

    std::shared_ptr<VAEModelBundle> bundle;
    NativeSelfCheck check;
    std::vector<double> positions;
    if (!bundlePath.empty()) {
        bundle = VAEModelBundle::load(bundlePath);
        const int numAtoms = bundle->getMetadataAtoms().size();
        check = checkNativeAgainstBundle(*bundle, numAtoms);
        if (!check.agrees()) {
            std::fprintf(stderr, "vae-roofline: the native evaluator cannot run %s: %s\n", bundlePath.c_str(), check.whyNot.c_str());
            return 1;
        }
        positions = VAEModelBundle::probePositions(numAtoms);
    }
    std::printf("one core, float32; bound of a product with weights in L2 = min(peak, L2 GB/s / 4 bytes)\n");
    std::printf("%-10s %9s %8s %8s %9s | %-28s %9s %9s\n", "set", "peak", "L1", "L2", "L2 bound", "kernel (300 x 300, float32)", "us", "GMAC/s");
    for (const std::string& set : supportedInstructionSets()) {
        selectDenseKernels(set);
        const DenseKernels& k = denseKernels();
        Bounds b = measureBounds(set, repeats);
        const double bound = std::min(b.peakGmac, b.l2GBs / 4);
        const int calls = 2000;
        double axpy = bestSeconds(repeats, [&] {
                          for (int c = 0; c < calls; c++) k.axpyNonzeroColumnsFloat(n, n, w.data(), n, x.data(), y.data());
                      }) / calls;
        double dot = bestSeconds(repeats, [&] {
                         for (int c = 0; c < calls; c++) k.dotMaskedColumnsFloat(n, n, w.data(), n, g.data(), nullptr, out.data());
                     }) / calls;
        std::printf("%-10s %6.1f GMAC/s %5.0f GB/s %5.0f GB/s %6.1f | %-28s %9.2f %9.1f\n", set.c_str(), b.peakGmac, b.l1GBs, b.l2GBs, bound,
                    "forward (columns, y += A x)", axpy * 1e6, n * n / axpy * 1e-9);
        std::printf("%-10s %9s %8s %8s %9s | %-28s %9.2f %9.1f\n", "", "", "", "", "", "backward (dots, A^T g)", dot * 1e6, n * n / dot * 1e-9);
        if (bundle) {
            NativeCVEvaluator<float> evaluator(check.spec);
            std::vector<double> z, grad, dEdz;
            evaluator.evaluate(positions, z, true);
            dEdz.assign(z.size(), 1.0);
            const int evaluations = 2000;
            double cv = bestSeconds(repeats, [&] {
                            for (int c = 0; c < evaluations; c++) {
                                evaluator.evaluate(positions, z, true);
                                evaluator.backward(dEdz, grad);
                            }
                        }) / evaluations;
            // the multiply-adds the kernels did (inactive units skipped) and those of dense passes
            long dense = 0;
            for (const VAEEncoderSpec::Layer& l : check.spec.layers) dense += 2L * l.inputs * l.outputs;
            const long done = evaluator.multiplyAddsOfLastEvaluation();
            std::printf("%-10s %9s %8s %8s %9s | %-28s %9.2f %9.1f (%ld of %ld multiply-adds of dense passes; features included)\n", "", "", "", "",
                        "", "CV forward + backward", cv * 1e6, done / cv * 1e-9, done, dense);
            // each multiply-add reads one float32 weight, and the weights (far more than L1 holds) come from L2
            std::printf("%-10s %9s %8s %8s %9s | %-28s %9.2f %9s (its weights, %ld KB, read from L2 at %.0f GB/s)\n", "", "", "", "", "",
                        "bound of this CV's products", done * 4.0 / (b.l2GBs * 1e9) * 1e6, "", done * 4 / 1000, b.l2GBs);
        }
    }
    return 0;
}
