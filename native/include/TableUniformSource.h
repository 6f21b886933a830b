#ifndef OPENMM_VAE_TABLE_UNIFORM_SOURCE_H_
#define OPENMM_VAE_TABLE_UNIFORM_SOURCE_H_

#include "UniformSource.h"

namespace VAEPlugin {

/**
 * The uniforms of one row of a decoder_sample noise tensor [D, S] (row-major, not owned): the
 * self-check and the tests feed native and TorchScript samplers the same numbers. A slot beyond S
 * (TorchScript draws it with torch.rand) returns 0.5 and marks the source exhausted: the sample
 * then cannot be compared.
 */
class TableUniformSource : public UniformSource {
public:
    TableUniformSource(const double* table, int numFeatures, int numSlots) : table(table), D(numFeatures), S(numSlots) {}
    double uniform(int feature, int slot) override {
        if (feature < 0 || feature >= D || slot < 0 || slot >= S) {
            exhausted_ = true;
            return 0.5;
        }
        return table[feature * S + slot];
    }
    /** Whether a slot outside the table was asked for. */
    bool exhausted() const { return exhausted_; }
private:
    const double* table;
    int D, S;
    bool exhausted_ = false;
};

} // namespace VAEPlugin

#endif
