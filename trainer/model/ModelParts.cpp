// Helpers shared by the model builders: initialisation, registration, MADE masks.
#include "ModelParts.h"
#include "BundleSchema.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <stdexcept>

namespace VAEPlugin {
namespace model_detail {

using namespace BundleSchema;

torch::Tensor ParamInit::glorot(int64_t fanOut, int64_t fanIn) {
    const double a = std::sqrt(6.0 / static_cast<double>(fanIn + fanOut));
    torch::Tensor w = torch::empty({fanOut, fanIn}, torch::kFloat32);
    float* p = w.data_ptr<float>();
    for (int64_t i = 0; i < fanOut * fanIn; ++i)
        p[i] = static_cast<float>((2.0 * uniform() - 1.0) * a);
    return w;
}

torch::jit::Module Builder::newModule(const std::string& className) {
    return torch::jit::Module(c10::QualifiedName("__torch__.vae." + className), cu, /*shouldMangle=*/true);
}

std::string lit(double v) {
    char buf[64];
    std::snprintf(buf, sizeof(buf), "%.17g", v);
    std::string s(buf);
    if (s.find_first_of(".eEn") == std::string::npos)
        s += ".0";
    return s;
}

void addParameter(torch::jit::Module& m, const std::string& name, const torch::Tensor& value) {
    m.register_parameter(name, value.clone().requires_grad_(true), false);
}

void addLinear(torch::jit::Module& m, const std::string& prefix, int64_t in, int64_t out, ParamInit& init,
               bool bias) {
    addParameter(m, prefix + BundleSchema::Model::kWeightSuffix, init.glorot(out, in));
    if (bias)
        addParameter(m, prefix + BundleSchema::Model::kBiasSuffix, torch::zeros({out}, torch::kFloat32));
}

void addIntAttr(torch::jit::Module& m, const std::string& name, int64_t v) {
    m.register_attribute(name, c10::IntType::get(), v);
}

void addFloatAttr(torch::jit::Module& m, const std::string& name, double v) {
    m.register_attribute(name, c10::FloatType::get(), v);
}

void addBoolAttr(torch::jit::Module& m, const std::string& name, bool v) {
    m.register_attribute(name, c10::BoolType::get(), v);
}

void addIndexAttr(torch::jit::Module& m, const std::string& name, const std::vector<int64_t>& idx) {
    torch::Tensor t = torch::tensor(idx, torch::kLong);
    if (idx.empty())
        t = torch::zeros({0}, torch::kLong);
    m.register_attribute(name, c10::TensorType::get(), t, false, false);
}

void replaceAll(std::string& s, const std::string& from, const std::string& to) {
    for (size_t pos = s.find(from); pos != std::string::npos; pos = s.find(from, pos + to.size()))
        s.replace(pos, from.size(), to);
}

std::vector<int64_t> madeHiddenDegrees(int64_t numFeatures, int64_t hidden) {
    std::vector<int64_t> deg(hidden);
    for (int64_t k = 1; k <= hidden; ++k) {
        // ceil(k (D-1) / (H+1)) in integer arithmetic
        int64_t num = k * (numFeatures - 1);
        int64_t c = (num + hidden) / (hidden + 1);
        deg[k - 1] = std::min(c, numFeatures - 1);
    }
    return deg;
}

torch::Tensor madeMask(const std::vector<int64_t>& inDeg, const std::vector<int64_t>& outDeg, bool strict) {
    const int64_t nOut = outDeg.size(), nIn = inDeg.size();
    torch::Tensor m = torch::zeros({nOut, nIn}, torch::kFloat32);
    auto a = m.accessor<float, 2>();
    for (int64_t o = 0; o < nOut; ++o)
        for (int64_t i = 0; i < nIn; ++i)
            a[o][i] = (strict ? inDeg[i] < outDeg[o] : inDeg[i] <= outDeg[o]) ? 1.0f : 0.0f;
    return m;
}

std::vector<int64_t> conditionerIndex(const std::vector<bool>& periodic) {
    const int64_t D = periodic.size(), P = std::count(periodic.begin(), periodic.end(), true);
    std::vector<int64_t> idx;
    int64_t k = 0;
    for (int64_t i = 0; i < D; ++i) {
        if (periodic[i]) {
            idx.push_back(D + k);
            idx.push_back(D + P + k);
            ++k;
        } else {
            idx.push_back(i);
        }
    }
    return idx;
}

// The masked network's input c: per feature in order its value (non-periodic) or cos, sin of its
// angle (periodic; up = the angles of the periodic features, [B, P]), so that an angle enters
// continuously across +-pi. Hidden and output layers as in science.md (tanh, z skips).
const char* const kMADESource = R"JIT(
def conditioner(self, x: Tensor, up: Tensor) -> Tensor:
    if self.num_periodic == 0:
        return x
    return torch.cat([x, torch.cos(up), torch.sin(up)], 1).index_select(1, self.conditioner_index.to(x.device))

def made_out(self, c: Tensor, z: Tensor) -> Tensor:
    h = torch.tanh(torch.addmm(torch.addmm(self.made_hidden_bias, z, self.made_hidden_skip_weight.t()),
                               c, (self.made_hidden_weight * self.made_hidden_mask).t()))
    return torch.addmm(torch.addmm(self.made_out_bias, z, self.made_out_skip_weight.t()),
                       h, (self.made_out_weight * self.made_out_mask).t())
)JIT";

void addMADE(Builder& b, torch::jit::Module& m, const std::vector<bool>& periodic, const std::vector<int64_t>& featureDeg,
             int64_t latent, int64_t hidden, const std::vector<int64_t>& outDeg) {
    const int64_t D = periodic.size();
    std::vector<int64_t> inDeg, per;
    for (int64_t i = 0; i < D; ++i) {
        inDeg.insert(inDeg.end(), periodic[i] ? 2 : 1, featureDeg[i]);
        if (periodic[i])
            per.push_back(i);
    }
    std::vector<int64_t> hDeg = madeHiddenDegrees(D, hidden);
    addLinear(m, Model::kMadeHidden, inDeg.size(), hidden, b.init);
    addLinear(m, Model::kMadeHiddenSkip, latent, hidden, b.init, false);
    addLinear(m, Model::kMadeOut, hidden, outDeg.size(), b.init);
    addLinear(m, Model::kMadeOutSkip, latent, outDeg.size(), b.init, false);
    m.register_buffer(Model::kMadeHiddenMask, madeMask(inDeg, hDeg, false));
    m.register_buffer(Model::kMadeOutMask, madeMask(hDeg, outDeg, true));
    if (!m.hasattr(Model::kNumPeriodic))
        addIntAttr(m, Model::kNumPeriodic, per.size());
    addIndexAttr(m, Model::kPeriodicIndex, per);
    addIndexAttr(m, Model::kConditionerIndex, conditionerIndex(periodic));
}

std::vector<bool> periodicFlags(const ModelConfig& config) {
    std::vector<bool> p(config.numFeatures, false);
    for (int i = 0; i < config.numFeatures && !config.periodic.empty(); ++i)
        p[i] = config.periodic[i];
    return p;
}

std::vector<int64_t> multiplicities(const ModelConfig& config) {
    std::vector<int64_t> m(config.numFeatures, 1);
    for (int i = 0; i < config.numFeatures && !config.multiplicity.empty(); ++i)
        m[i] = config.multiplicity[i];
    return m;
}

void splitPeriodic(const ModelConfig& config, std::vector<int64_t>& periodic, std::vector<int64_t>& nonPeriodic) {
    periodic.clear();
    nonPeriodic.clear();
    for (int i = 0; i < config.numFeatures; ++i) {
        bool p = !config.periodic.empty() && config.periodic[i];
        (p ? periodic : nonPeriodic).push_back(i);
    }
}

} // namespace model_detail
} // namespace VAEPlugin
