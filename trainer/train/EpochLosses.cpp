#include "EpochLosses.h"

#include <iomanip>
#include <sstream>

namespace VAEPlugin {

std::string lossesCsv(const std::vector<EpochLosses>& rows) {
    std::ostringstream s;
    s << "epoch,beta,total,recon,kl,val_total,val_recon,val_kl\n";
    s << std::setprecision(10);
    for (const auto& r : rows)
        s << r.epoch << ',' << r.beta << ',' << r.total << ',' << r.recon << ',' << r.kl << ',' << r.valTotal << ','
          << r.valRecon << ',' << r.valKl << '\n';
    return s.str();
}

std::string priorLossesCsv(const std::vector<PriorEpochLosses>& rows) {
    std::ostringstream s;
    s << "epoch,loss,val_loss\n" << std::setprecision(10);
    for (const auto& r : rows) s << int(r[0]) << ',' << r[1] << ',' << r[2] << '\n';
    return s.str();
}

nlohmann::json EpochLosses::toJson() const {
    return {epoch, beta, total, recon, kl, valTotal, valRecon, valKl, samplesPerSecond};
}

EpochLosses EpochLosses::fromJson(const nlohmann::json& j) {
    EpochLosses r;
    r.epoch = j[0];
    r.beta = j[1];
    r.total = j[2];
    r.recon = j[3];
    r.kl = j[4];
    r.valTotal = j[5];
    r.valRecon = j[6];
    r.valKl = j[7];
    r.samplesPerSecond = j[8];
    return r;
}


} // namespace VAEPlugin
