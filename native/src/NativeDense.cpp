#include "NativeDense.h"
#include "isa/DenseKernels.h"
#include "openmm/OpenMMException.h"
#include <atomic>
#include <cstdlib>

namespace VAEPlugin {

namespace {

// Whether this CPU (and the OS, for the register state) runs a set.
bool cpuRuns(const std::string& instructionSet) {
    if (instructionSet == "baseline") return true;
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    if (instructionSet == "x86-64-v3")
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("bmi2");
    if (instructionSet == "x86-64-v4")
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512cd") &&
               __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx2") &&
               __builtin_cpu_supports("fma");
#endif
    return false;
}

// Every set compiled into this library, narrowest first.
std::vector<const DenseKernels*> compiledSets() {
    std::vector<const DenseKernels*> sets = {&denseKernelsBaseline};
#ifdef VAE_HAVE_ISA_X86_64_V3
    sets.push_back(&denseKernelsX86_64_V3);
#endif
#ifdef VAE_HAVE_ISA_X86_64_V4
    sets.push_back(&denseKernelsX86_64_V4);
#endif
    return sets;
}

const DenseKernels& checkedKernels(const std::string& instructionSet, const char* origin) {
    const DenseKernels* kernels = denseKernelsFor(instructionSet);
    if (kernels == nullptr) {
        std::string supported;
        for (const std::string& s : supportedInstructionSets()) supported += (supported.empty() ? "" : ", ") + s;
        throw OpenMM::OpenMMException(std::string("openmm-vae: ") + origin + " '" + instructionSet +
                                      "' is not an instruction set this library holds and this CPU runs (these are: " + supported + ")");
    }
    return *kernels;
}

const DenseKernels& initialKernels() {
    const char* forced = std::getenv("OPENMMVAE_INSTRUCTION_SET");
    if (forced != nullptr && *forced != '\0') return checkedKernels(forced, "OPENMMVAE_INSTRUCTION_SET");
    const DenseKernels* best = &denseKernelsBaseline;
    for (const DenseKernels* kernels : compiledSets())
        if (cpuRuns(kernels->name)) best = kernels;
    return *best;
}

std::atomic<const DenseKernels*>& active() {
    static std::atomic<const DenseKernels*> kernels{&initialKernels()};
    return kernels;
}

} // namespace

const DenseKernels& denseKernels() {
    return *active().load(std::memory_order_relaxed);
}

const DenseKernels* denseKernelsFor(const std::string& instructionSet) {
    for (const DenseKernels* kernels : compiledSets())
        if (instructionSet == kernels->name && cpuRuns(instructionSet)) return kernels;
    return nullptr;
}

std::vector<std::string> supportedInstructionSets() {
    std::vector<std::string> names;
    for (const DenseKernels* kernels : compiledSets())
        if (cpuRuns(kernels->name)) names.push_back(kernels->name);
    return names;
}

void selectDenseKernels(const std::string& instructionSet) {
    active().store(&checkedKernels(instructionSet, "selectDenseKernels:"), std::memory_order_relaxed);
}

void denseMultiplyAdd(int rows, int cols, const double* a, int lda, const double* x, double* y) {
    denseKernels().multiplyAdd(rows, cols, a, lda, x, y);
}

void denseMultiplyAdd2(int rows, int cols, const double* a, int lda, const double* x0, const double* x1, double* y0, double* y1) {
    denseKernels().multiplyAdd2(rows, cols, a, lda, x0, x1, y0, y1);
}

void denseRowsMultiplyAdd(int rows, int cols, const double* a, int lda, const double* x, double* y) {
    denseKernels().rowsMultiplyAdd(rows, cols, a, lda, x, y);
}

const char* denseInstructionSet() {
    return denseKernels().name;
}

} // namespace VAEPlugin
