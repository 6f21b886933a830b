#ifndef OPENMM_VAE_LATENT_GRID_H_
#define OPENMM_VAE_LATENT_GRID_H_

#include "openmm/internal/windowsExport.h"
#include <vector>

namespace VAEPlugin {

/**
 * A tabulated function of the latent z (1 to 4 dimensions, each periodic or not) on a regular
 * grid, interpolated by tensor-product cubic Hermite splines with Catmull-Rom tangents: the
 * interpolant passes through the grid values and is C1 (value and gradient continuous across cell
 * faces). This is the bias of VAECVForce in GridBias mode and the deposition grid of
 * metadynamics and OPES; the interpolation is defined here once and used by every CPU kernel.
 *
 * Layout: non-periodic dimension d has sizes[d] points at mins[d] + i*(maxs[d]-mins[d])/(sizes[d]-1);
 * periodic dimension d has period maxs[d]-mins[d] and sizes[d] points at
 * mins[d] + i*(maxs[d]-mins[d])/sizes[d]. Values are stored row-major (last dimension fastest),
 * in kJ/mol.
 *
 * Tangents at a grid point are central differences of the neighbours; at the two end points of a
 * non-periodic dimension the missing neighbour is the linear extrapolation of the last two points
 * (so the tangent there is the one-sided difference).
 *
 * Beyond a non-periodic edge the value is that at the clamped point plus a harmonic wall,
 *     V(z) = V_grid(clamp(z)) + sum_d (k/2) (z_d - clamp(z_d))^2,
 * with k = getWallForceConstant() (default 1000 kJ/mol per latent unit squared; 0 switches the
 * wall off). The energy is continuous there; the gradient component normal to the edge jumps from
 * the grid's slope to 0 (+ the wall), so grids should cover the region that is sampled.
 */
class OPENMM_EXPORT LatentGrid {
public:
    /** Default force constant of the walls beyond non-periodic edges, kJ/mol per latent unit^2. */
    static constexpr double DefaultWallForceConstant = 1000.0;
    /**
     * Create a grid with all values 0. Throws OpenMMException (naming the dimension and value) if
     * the vectors differ in length, have 0 or more than 4 entries, a size is below 2 (non-periodic)
     * or 3 (periodic), a bound is not finite, or maxs[d] <= mins[d].
     */
    LatentGrid(const std::vector<double>& mins, const std::vector<double>& maxs, const std::vector<int>& sizes,
               const std::vector<bool>& periodic);
    int getNumDimensions() const {
        return mins.size();
    }
    const std::vector<double>& getMins() const {
        return mins;
    }
    const std::vector<double>& getMaxs() const {
        return maxs;
    }
    const std::vector<int>& getSizes() const {
        return sizes;
    }
    const std::vector<bool>& getPeriodic() const {
        return periodic;
    }
    /** The total number of grid points (product of sizes). */
    int getNumPoints() const {
        return values.size();
    }
    /** The grid spacing along dimension d. */
    double getSpacing(int d) const {
        return spacing[d];
    }
    /** The values at the grid points, row-major (last dimension fastest), kJ/mol. */
    const std::vector<double>& getValues() const {
        return values;
    }
    /** Replace all values. Throws OpenMMException if the size differs from getNumPoints() or a value is not finite. */
    void setValues(const std::vector<double>& values);
    /** The latent coordinates of grid point `index` (0 <= index < getNumPoints(), else OpenMMException). */
    std::vector<double> getPoint(int index) const;
    /**
     * Add height * exp(-sum_d dz_d^2 / (2 sigma_d^2)) to every grid point, dz = point - center
     * (minimum image on periodic dimensions). Throws OpenMMException for a wrong length, a
     * non-positive sigma or a non-finite center or height.
     */
    void addGaussian(const std::vector<double>& center, const std::vector<double>& sigma, double height);
    /**
     * The interpolated value at z (kJ/mol) and its gradient dV/dz (resized to the number of
     * dimensions), including the walls beyond non-periodic edges. Periodic coordinates wrap.
     * Throws OpenMMException for a wrong length or a non-finite coordinate.
     */
    double evaluate(const std::vector<double>& z, std::vector<double>& gradient) const;
    /** The force constant of the walls beyond non-periodic edges (kJ/mol per latent unit^2). */
    double getWallForceConstant() const {
        return wallForceConstant;
    }
    /** Set the wall force constant (>= 0, else OpenMMException). */
    void setWallForceConstant(double k);
    /** Whether another grid has the same dimensions, bounds, sizes and periodicity (values and walls may differ). */
    bool hasSameGeometry(const LatentGrid& other) const;
private:
    std::vector<double> mins, maxs, spacing;
    std::vector<int> sizes, strides;
    std::vector<bool> periodic;
    std::vector<double> values;
    double wallForceConstant;
};

} // namespace VAEPlugin

#endif
