// The sweep's tables: mean and standard deviation over replicas of every quantity of metrics.json.
#include "SweepCommand.h"

#include "AtomicFile.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <sstream>

namespace fs = std::filesystem;

namespace VAEPlugin {

namespace {

/** The tabulated quantities: column name and where it is in metrics.json (final losses: copied from the bundle). */
struct Quantity {
    std::string column;
    std::vector<std::string> path;
};
const std::vector<Quantity>& tableQuantities() {
    static const std::vector<Quantity> q = {
        {"jd_encode_total", {"jd_encode_total"}},
        {"active_dims", {"active_dims"}},
        {"jd_prior", {"jd_prior"}},
        {"total_correlation", {"total_correlation"}},
        {"f_acc", {"f_acc"}},
        {"loss_total", {BundleSchema::Provenance::kFinalLosses, BundleSchema::Loss::kTotal}},
        {"loss_recon", {BundleSchema::Provenance::kFinalLosses, BundleSchema::Loss::kRecon}},
        {"loss_kl", {BundleSchema::Provenance::kFinalLosses, BundleSchema::Loss::kKl}},
        {"val_loss_total", {BundleSchema::Provenance::kFinalLosses, BundleSchema::Loss::kValTotal}},
    };
    return q;
}

} // namespace

nlohmann::json readJsonFile(const std::string& path) {
    std::ifstream in(path);
    if (!in) throw std::runtime_error("cannot read '" + path + "'");
    try {
        return nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& e) {
        throw std::runtime_error(path + ": " + e.what());
    }
}

std::string formatSweepNumber(double v, int precision) {
    if (!std::isfinite(v)) return "";
    std::ostringstream s;
    s << std::setprecision(precision) << v;
    return s.str();
}

nlohmann::json writeSweepTables(const SweepOptions& o, std::ostream& log) {
    const auto& quantities = tableQuantities();
    nlohmann::json table = nlohmann::json::array();
    auto jobs = planSweepJobs(o);
    for (const auto& d : o.decoders)
        for (const auto& b : o.train.betas) {
            std::vector<std::vector<double>> values(quantities.size());
            int n = 0;
            for (const auto& job : jobs) {
                if (job.decoder != d || !sweepJobDone(job)) continue;
                fs::path file = fs::path(job.directory) / ("beta-" + b) / "metrics.json";
                nlohmann::json m = readJsonFile(file.string());
                n++;
                for (size_t k = 0; k < quantities.size(); k++) {
                    const nlohmann::json* v = &m;
                    for (const auto& key : quantities[k].path) {
                        if (!v->is_object() || !v->contains(key)) {
                            v = nullptr;
                            break;
                        }
                        v = &(*v)[key];
                    }
                    if (v && v->is_number()) values[k].push_back(v->get<double>());
                }
            }
            nlohmann::json row = {{"decoder", decoderKindName(d)}, {"beta", b}, {"replicas", n}};
            for (size_t k = 0; k < quantities.size(); k++) {
                const auto& x = values[k];
                double mean = NAN, sd = NAN;
                if (!x.empty()) {
                    mean = 0;
                    for (double v : x) mean += v;
                    mean /= x.size();
                }
                if (x.size() > 1) {
                    double ss = 0;
                    for (double v : x) ss += (v - mean) * (v - mean);
                    sd = std::sqrt(ss / (x.size() - 1));
                }
                row[quantities[k].column] = {{"mean", std::isfinite(mean) ? nlohmann::json(mean) : nlohmann::json()},
                                             {"std", std::isfinite(sd) ? nlohmann::json(sd) : nlohmann::json()},
                                             {"n", x.size()}};
            }
            table.push_back(row);
        }

    auto value = [](const nlohmann::json& v) { return v.is_number() ? v.get<double>() : NAN; };
    std::ostringstream csv, md;
    csv << "decoder,beta,replicas";
    md << "| decoder | beta | n |";
    for (const auto& q : quantities) {
        csv << "," << q.column << "_mean," << q.column << "_std";
        md << " " << q.column << " |";
    }
    csv << "\n";
    md << "\n| --- | --- | --- |";
    for (size_t k = 0; k < quantities.size(); k++) md << " --- |";
    md << "\n";
    for (const auto& row : table) {
        csv << row["decoder"].get<std::string>() << "," << row["beta"].get<std::string>() << "," << row["replicas"];
        md << "| " << row["decoder"].get<std::string>() << " | " << row["beta"].get<std::string>() << " | "
           << row["replicas"] << " |";
        for (const auto& q : quantities) {
            double mean = value(row[q.column]["mean"]), sd = value(row[q.column]["std"]);
            csv << "," << formatSweepNumber(mean, 10) << "," << formatSweepNumber(sd, 10);
            if (!std::isfinite(mean))
                md << " - |";
            else if (!std::isfinite(sd))
                md << " " << formatSweepNumber(mean, 3) << " |";
            else
                md << " " << formatSweepNumber(mean, 3) << " ± " << formatSweepNumber(sd, 2) << " |";
        }
        csv << "\n";
        md << "\n";
    }
    fs::path out(o.out);
    writeFileAtomically((out / "table.csv").string(), csv.str());
    writeFileAtomically((out / "table.md").string(), md.str());
    log << "[sweep] wrote " << (out / "table.csv").string() << " and " << (out / "table.md").string() << "\n";
    return table;
}

} // namespace VAEPlugin
