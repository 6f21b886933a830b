#ifndef OPENMM_VAE_TRAINER_TRAIN_EPOCH_LOSSES_H_
#define OPENMM_VAE_TRAINER_TRAIN_EPOCH_LOSSES_H_

#include <nlohmann/json.hpp>

#include <array>
#include <string>
#include <vector>

namespace VAEPlugin {

/** One row of losses.csv (all in nats per sample, raw feature units). */
struct EpochLosses {
    int epoch = 0;
    double beta = 0, total = 0, recon = 0, kl = 0, valTotal = 0, valRecon = 0, valKl = 0;
    double samplesPerSecond = 0;
    /** The row as a JSON array (checkpoints), and back. */
    nlohmann::json toJson() const;
    static EpochLosses fromJson(const nlohmann::json& j);
};

/** One row of prior_losses.csv: epoch, loss (-ln P(z)), val_loss. */
using PriorEpochLosses = std::array<double, 3>;

/** The text of losses.csv: header epoch,beta,total,recon,kl,val_total,val_recon,val_kl and one line per row. */
std::string lossesCsv(const std::vector<EpochLosses>& rows);
/** The text of prior_losses.csv: header epoch,loss,val_loss and one line per row. */
std::string priorLossesCsv(const std::vector<PriorEpochLosses>& rows);

} // namespace VAEPlugin

#endif
