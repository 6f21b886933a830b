#ifndef COMMON_VAE_FEATURE_MAP_DATA_H_
#define COMMON_VAE_FEATURE_MAP_DATA_H_

#include "VAEEncoderSpec.h"
#include <map>
#include <string>
#include <vector>

namespace VAEPlugin {

/**
 * What the device code of a bundle's feature kind (kernels/features/<kind>.cc) reads besides the
 * positions, laid out for the kernel's arrays featureMapIndices and featureMapData, with the
 * offsets into them as compile-time defines. bat: per feature the atoms of its term, the torsion
 * each torsion feature is relative to, per atom the terms it enters (bat.cc); cartesian: the centred
 * reference structure and its centre, then room for what the map computes in one thread and shares
 * (cartesian.cc). The other kinds read nothing (both arrays hold one unused value).
 */
class CommonVAEFeatureMapData {
public:
    explicit CommonVAEFeatureMapData(const VAEEncoderSpec& spec);
    const std::vector<int>& getIndices() const {
        return indices;
    }
    /** Constants, then the map's scratch (zeros). */
    const std::vector<double>& getData() const {
        return data;
    }
    const std::map<std::string, std::string>& getDefines() const {
        return defines;
    }
private:
    void addBat(const VAEEncoderSpec& spec);
    void addCartesian(const VAEEncoderSpec& spec);
    std::vector<int> indices;
    std::vector<double> data;
    std::map<std::string, std::string> defines;
};

} // namespace VAEPlugin

#endif
