#include "Systems.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <stdexcept>

namespace VAEPlugin {

namespace {

constexpr double kPi = 3.14159265358979323846;
const double kLog2Pi = std::log(2.0 * kPi);

/** ln N(x; mu, 1). */
double logNormal(double x, double mu) { return -0.5 * (x - mu) * (x - mu) - 0.5 * kLog2Pi; }

/** ln(exp(a) + exp(b)) without overflow. */
double logAddExp(double a, double b) {
    double m = std::max(a, b);
    if (m == -INFINITY) return -INFINITY;
    return m + std::log(std::exp(a - m) + std::exp(b - m));
}

/** ln of the 1-D bimodal density 0.6 N(-3, 1) + 0.4 N(3, 1). */
double logBimodal(double x) {
    return logAddExp(std::log(0.6) + logNormal(x, -3.0), std::log(0.4) + logNormal(x, 3.0));
}

/** ln Gamma(r; shape k, rate b). */
double logGamma(double r, double k, double b) {
    if (!(r > 0)) return -INFINITY;
    return k * std::log(b) + (k - 1.0) * std::log(r) - b * r - std::lgamma(k);
}

/** ln p(r) of the beltway radius: 0.5 Gamma(40, 40) + 0.5 Gamma(160, 80). */
double logBeltwayRadius(double r) {
    return logAddExp(std::log(0.5) + logGamma(r, 40.0, 40.0), std::log(0.5) + logGamma(r, 160.0, 80.0));
}

torch::Tensor toTensor(const std::vector<double>& data, int64_t n) {
    return torch::from_blob(const_cast<double*>(data.data()), {n, 2}, torch::kFloat64).clone();
}

class Mueller : public System2D {
public:
    std::string name() const override { return "mueller"; }
    double energy(double x, double y) const override { return muellerEnergy(x, y); }
    bool normalized() const override { return false; }
    torch::Tensor sample(int64_t n, uint64_t seed) const override { return metropolisSample(*this, n, seed); }
};

class Gaussian : public System2D {
public:
    std::string name() const override { return "gaussian"; }
    double energy(double x, double y) const override { return -logNormal(x, -3.0) - logNormal(y, -3.0); }
    torch::Tensor sample(int64_t n, uint64_t seed) const override {
        std::mt19937_64 rng(seed);
        std::normal_distribution<double> normal(0.0, 1.0);
        std::vector<double> data(2 * n);
        for (auto& v : data) v = -3.0 + normal(rng);
        return toTensor(data, n);
    }
};

class Bimodal : public System2D {
public:
    std::string name() const override { return "bimodal"; }
    double energy(double x, double y) const override { return -logBimodal(x) - logBimodal(y); }
    torch::Tensor sample(int64_t n, uint64_t seed) const override {
        std::mt19937_64 rng(seed);
        std::normal_distribution<double> normal(0.0, 1.0);
        std::uniform_real_distribution<double> uniform(0.0, 1.0);
        std::vector<double> data(2 * n);
        for (auto& v : data) v = (uniform(rng) < 0.6 ? -3.0 : 3.0) + normal(rng);
        return toTensor(data, n);
    }
};

class BimodalCorrelated : public System2D {
public:
    std::string name() const override { return "bimodal-correlated"; }
    double energy(double x, double y) const override {
        return -logAddExp(std::log(0.6) + logNormal(x, -3.0) + logNormal(y, -3.0),
                          std::log(0.4) + logNormal(x, 3.0) + logNormal(y, 3.0));
    }
    torch::Tensor sample(int64_t n, uint64_t seed) const override {
        std::mt19937_64 rng(seed);
        std::normal_distribution<double> normal(0.0, 1.0);
        std::uniform_real_distribution<double> uniform(0.0, 1.0);
        std::vector<double> data(2 * n);
        for (int64_t i = 0; i < n; i++) {
            double mu = uniform(rng) < 0.6 ? -3.0 : 3.0;
            data[2 * i] = mu + normal(rng);
            data[2 * i + 1] = mu + normal(rng);
        }
        return toTensor(data, n);
    }
};

class Beltway : public System2D {
public:
    explicit Beltway(bool polar) : polar_(polar) {}
    std::string name() const override { return polar_ ? "beltway-rtheta" : "beltway-xy"; }
    FeatureKind featureKind() const override { return polar_ ? FeatureKind::Polar : FeatureKind::XY; }
    double energy(double x, double y) const override {
        double r = std::hypot(x, y);
        if (!(r > 0.0)) return INFINITY;  // the density vanishes at the origin
        // -ln p(r, theta) + ln r, p(r, theta) = p(r) / (2 pi).  (fix: Jacobian 1/r)
        return -logBeltwayRadius(r) + kLog2Pi + std::log(r);
    }
    torch::Tensor sample(int64_t n, uint64_t seed) const override {
        std::mt19937_64 rng(seed);
        std::uniform_real_distribution<double> uniform(0.0, 1.0);
        std::gamma_distribution<double> gammaA(40.0, 1.0 / 40.0), gammaB(160.0, 1.0 / 80.0);
        std::vector<double> data(2 * n);
        for (int64_t i = 0; i < n; i++) {
            double theta = -kPi + 2.0 * kPi * uniform(rng);
            if (theta >= kPi) theta = -kPi;
            double r = uniform(rng) < 0.5 ? gammaA(rng) : gammaB(rng);
            if (polar_) {
                data[2 * i] = r;
                data[2 * i + 1] = theta;
            } else {
                data[2 * i] = r * std::cos(theta);
                data[2 * i + 1] = r * std::sin(theta);
            }
        }
        return toTensor(data, n);
    }

private:
    bool polar_;
};

} // namespace

double muellerEnergy(double x, double y) {
    static const double A[4] = {-200.0, -100.0, -170.0, 15.0};
    static const double a[4] = {-1.0, -1.0, -6.5, 0.7};
    static const double b[4] = {0.0, 0.0, 11.0, 0.6};
    static const double c[4] = {-10.0, -10.0, -6.5, 0.7};
    static const double X[4] = {1.0, 0.0, -0.5, -1.0};
    static const double Y[4] = {0.0, 0.5, 1.5, 1.0};
    double u = 0.0;
    for (int j = 0; j < 4; j++) {
        double dx = x - X[j], dy = y - Y[j];
        u += A[j] * std::exp(a[j] * dx * dx + b[j] * dx * dy + c[j] * dy * dy);
    }
    return 0.1 * u;
}

torch::Tensor System2D::energy(const torch::Tensor& xy) const {
    if (xy.dim() != 2 || xy.size(1) != 2) throw std::invalid_argument("System2D::energy: expected a [B, 2] tensor");
    auto c = xy.to(torch::kCPU, torch::kFloat64).contiguous();
    int64_t n = c.size(0);
    auto out = torch::empty({n}, torch::kFloat64);
    const double* p = c.data_ptr<double>();
    double* o = out.data_ptr<double>();
    for (int64_t i = 0; i < n; i++) o[i] = energy(p[2 * i], p[2 * i + 1]);
    return out;
}

double System2D::featureLogDensity(double f0, double f1) const {
    if (featureKind() == FeatureKind::Polar) {
        double x = f0 * std::cos(f1), y = f0 * std::sin(f1);
        return -energy(x, y) + std::log(f0);  // ln p(r, theta) = ln p_xy + ln J, J = r
    }
    return -energy(f0, f1);
}

std::vector<std::string> System2D::featureNames() const {
    if (featureKind() == FeatureKind::Polar) return {"r", "theta"};
    return {"x", "y"};
}

const std::vector<std::string>& systemNames() {
    static const std::vector<std::string> names = {"mueller", "gaussian", "bimodal", "bimodal-correlated",
                                                    "beltway-xy", "beltway-rtheta"};
    return names;
}

std::unique_ptr<System2D> makeSystem(const std::string& name) {
    if (name == "mueller") return std::make_unique<Mueller>();
    if (name == "gaussian") return std::make_unique<Gaussian>();
    if (name == "bimodal") return std::make_unique<Bimodal>();
    if (name == "bimodal-correlated") return std::make_unique<BimodalCorrelated>();
    if (name == "beltway-xy") return std::make_unique<Beltway>(false);
    if (name == "beltway-rtheta") return std::make_unique<Beltway>(true);
    std::string known;
    for (const auto& n : systemNames()) known += (known.empty() ? "" : ", ") + n;
    throw std::invalid_argument("unknown system '" + name + "' (known systems: " + known + ")");
}

torch::Tensor metropolisSample(const System2D& system, int64_t n, uint64_t seed, int chains, double sigma,
                               int equilibration, int stride, double xmin, double xmax, double ymin, double ymax) {
    if (n <= 0 || chains <= 0 || stride <= 0) throw std::invalid_argument("metropolisSample: bad arguments");
    std::mt19937_64 rng(seed);
    std::normal_distribution<double> normal(0.0, sigma);
    std::uniform_real_distribution<double> uniform(0.0, 1.0);

    // Starting points: drawn from exp(-U) discretised on a grid over the box (with jitter inside the
    // cell), so that every basin starts with about its equilibrium population; the chains then
    // equilibrate exactly by Metropolis.
    const int grid = 200;
    double hx = (xmax - xmin) / grid, hy = (ymax - ymin) / grid;
    std::vector<double> cumulative(grid * grid);
    double umin = INFINITY;
    std::vector<double> u(grid * grid);
    for (int i = 0; i < grid; i++)
        for (int j = 0; j < grid; j++) {
            u[i * grid + j] = system.energy(xmin + (i + 0.5) * hx, ymin + (j + 0.5) * hy);
            umin = std::min(umin, u[i * grid + j]);
        }
    double total = 0.0;
    for (size_t k = 0; k < u.size(); k++) {
        total += std::exp(-(u[k] - umin));
        cumulative[k] = total;
    }
    std::vector<double> x(chains), y(chains), e(chains);
    for (int c = 0; c < chains; c++) {
        double t = uniform(rng) * total;
        size_t k = std::lower_bound(cumulative.begin(), cumulative.end(), t) - cumulative.begin();
        k = std::min(k, cumulative.size() - 1);
        x[c] = xmin + (k / grid + uniform(rng)) * hx;
        y[c] = ymin + (k % grid + uniform(rng)) * hy;
        e[c] = system.energy(x[c], y[c]);
    }
    auto step = [&](int c) {
        double nx = x[c] + normal(rng), ny = y[c] + normal(rng);
        double ne = system.energy(nx, ny);
        double delta = ne - e[c];
        if (std::isfinite(ne) && (delta <= 0.0 || uniform(rng) < std::exp(-delta))) {
            x[c] = nx;
            y[c] = ny;
            e[c] = ne;
        }
    };
    for (int s = 0; s < equilibration; s++)
        for (int c = 0; c < chains; c++) step(c);
    std::vector<double> data(2 * n);
    int64_t count = 0;
    while (count < n) {
        for (int s = 0; s < stride; s++)
            for (int c = 0; c < chains; c++) step(c);
        for (int c = 0; c < chains && count < n; c++, count++) {
            data[2 * count] = x[c];
            data[2 * count + 1] = y[c];
        }
    }
    return torch::from_blob(data.data(), {n, 2}, torch::kFloat64).clone();
}

} // namespace VAEPlugin
