#ifndef OPENMM_VAE_CVFORCE_H_
#define OPENMM_VAE_CVFORCE_H_

#include "LatentGrid.h"
#include "openmm/Context.h"
#include "openmm/Force.h"
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace VAEPlugin {

class VAEModelBundle;

/**
 * A collective variable learned by a variational autoencoder, used as an OpenMM Force.
 *
 * The model is a TorchScript archive whose forward(positions) maps the positions of the
 * selected atoms (a tensor of shape [n, 3], in nm) to the latent mean z (shape [L]). Bundles
 * written by `openmm-vae train` carry metadata (atoms, latent size, features); any other
 * TorchScript module with that forward signature is accepted as well.
 *
 * The energy is either one latent component (E = z_k in kJ/mol, for use as a collective
 * variable inside CustomCVForce or openmm.app.Metadynamics) or a harmonic restraint
 * E = sum_k 0.5 kappa_k (z_k - c_k)^2 whose centers c_k and force constants kappa_k are
 * Context global parameters named <prefix>center<k> and <prefix>kappa<k> (prefix "vae_" by
 * default), so umbrella windows and steered runs change them with Context::setParameter(),
 * or a tabulated bias E = V(z) on a LatentGrid (metadynamics, OPES), whose values are updated in
 * a running Context with updateParametersInContext(). In every mode the network is evaluated once
 * per force evaluation, whatever L is.
 *
 * Forces are the analytic gradient of the energy actually computed, in the arithmetic the
 * Precision property selects (see setProperty): by default, on the Reference and CPU platforms, the
 * encoder network runs in single precision (float32) and everything around it (features, their
 * derivatives, standardisation, the bias) in double; against double precision throughout this
 * changes the bias energy and forces by about 1e-6 of their size (the paper's alanine dipeptide
 * encoder under a restraint: energy 3e-5 kJ/mol of up to 62, forces 1e-4 kJ/mol/nm of up to 168;
 * bench/README.md, "Precision"). On the OpenCL and CUDA platforms the
 * platform's own Precision property (single, mixed, double) decides. getImplementationInContext()
 * says which arithmetic runs in a Context.
 */
class OPENMM_EXPORT VAECVForce : public OpenMM::Force {
public:
    enum EnergyMode {
        /** E = z_k for the selected component k. */
        Component = 0,
        /** E = sum_k 0.5 kappa_k (z_k - c_k)^2 with Context parameters for c_k and kappa_k. */
        HarmonicRestraint = 1,
        /** E = V(z), the LatentGrid's interpolated value (walls beyond non-periodic edges included). */
        GridBias = 2
    };
    /**
     * Create a force from a model.
     *
     * @param model   either the path of a TorchScript archive (*.pt) or the bytes of one
     *                (a string starting with the zip signature "PK\x03\x04"). The bytes are
     *                copied into the force, so the file may change or vanish afterwards and a
     *                serialized System is self-contained. Throws OpenMMException if the file
     *                cannot be read or is not a TorchScript archive.
     */
    explicit VAECVForce(const std::string& model);
    /** The bytes of the TorchScript archive. */
    const std::string& getModelBytes() const;
    /** The bundle metadata (JSON text), or an empty string for a model without metadata. */
    const std::string& getMetadata() const;
    /**
     * Set the System indices of the atoms whose positions are fed to the model, in the order the
     * model expects them. An empty list means all particles of the System in order. The default
     * is the list in the bundle metadata, or all particles for a model without metadata.
     * Throws OpenMMException for a negative or repeated index; indices beyond the System are
     * reported when a Context is created.
     */
    void setAtoms(const std::vector<int>& atoms);
    /** The atoms fed to the model (empty: all particles of the System). */
    const std::vector<int>& getAtoms() const;
    /**
     * The number of latent dimensions L. Read from the metadata; for a model without metadata
     * the model is evaluated once on the selected atoms (so setAtoms() must have been called, or
     * a harmonic restraint must have been set, which fixes L).
     */
    int getNumLatentDimensions() const;
    /** Use E = z_k. Throws OpenMMException if k is negative or (when L is known) k >= L. */
    void useComponent(int k);
    /**
     * Use E = sum_k 0.5 kappa_k (z_k - c_k)^2.
     *
     * @param centers         c_k in latent units, one per latent dimension
     * @param forceConstants  kappa_k in kJ/mol per latent unit squared, one per latent dimension
     * These are the default values of the Context parameters <prefix>center<k> and
     * <prefix>kappa<k>. Throws OpenMMException if the lengths differ from each other or from L.
     */
    void useHarmonicRestraint(const std::vector<double>& centers, const std::vector<double>& forceConstants);
    /**
     * Use E = V(z), the interpolation of a LatentGrid (see LatentGrid for the interpolant and the
     * rule beyond its edges); the force keeps a copy of the grid. Throws OpenMMException if the
     * grid's number of dimensions differs from L (when L is known).
     */
    void useGridBias(const LatentGrid& grid);
    /** The grid of GridBias mode. Throws OpenMMException in another mode. */
    const LatentGrid& getGridBias() const;
    /** The current energy mode. */
    EnergyMode getEnergyMode() const;
    /** The component used in Component mode. */
    int getComponent() const;
    /** Default restraint centers (empty unless in HarmonicRestraint mode). */
    const std::vector<double>& getCenters() const;
    /** Default restraint force constants (empty unless in HarmonicRestraint mode). */
    const std::vector<double>& getForceConstants() const;
    /** Set the prefix of the global parameter names ("vae_" by default). */
    void setGlobalParameterPrefix(const std::string& prefix);
    /** The prefix of the global parameter names. */
    const std::string& getGlobalParameterPrefix() const;
    /** The name of the Context parameter holding the center of latent dimension k. */
    std::string getCenterParameterName(int k) const;
    /** The name of the Context parameter holding the force constant of latent dimension k. */
    std::string getForceConstantParameterName(int k) const;
    /**
     * Evaluate the latent mean z for the current positions of a Context containing this force.
     */
    std::vector<double> getCollectiveVariableValues(OpenMM::Context& context) const;
    /**
     * Copy the atoms, the component index and (GridBias mode) the grid values and wall force
     * constant into a Context already created. The number of atoms, the energy mode and the grid
     * geometry (bounds, sizes, periodicity) cannot change there (they fix the model input, the
     * Context's parameters and the kernels' tables); to change those, reinitialize the Context.
     * Throws OpenMMException naming what changed.
     */
    void updateParametersInContext(OpenMM::Context& context);
    /**
     * Set a property that selects how the force is evaluated:
     * - "Implementation": "native" (the bundle's featurisation and encoder evaluated by built-in
     *   code with an analytic backward pass; no TorchScript interpreter in the MD loop) or
     *   "torchscript" (the model's forward with LibTorch autograd). The default is native when the
     *   bundle's metadata describes a supported architecture, else torchscript (with a one-line
     *   log message when native was asked for explicitly but cannot be used).
     * - "Precision": "single" or "double", the arithmetic of the native encoder network on the
     *   Reference and CPU platforms (default "single": float32 products, about twice as fast; features
     *   and their gradients are always in double; accuracy in the class comment). The TorchScript path
     *   always runs in double. The OpenCL and CUDA platforms ignore it and follow the platform's own
     *   Precision property ("single": network and features in float32; "mixed": network in float32,
     *   features, their gradients and the bias in double; "double": all in double). The dense products
     *   run with the widest instruction set the CPU supports (x86-64 baseline, AVX2 + FMA, AVX-512),
     *   chosen at run time; the environment variable OPENMMVAE_INSTRUCTION_SET (baseline, x86-64-v3,
     *   x86-64-v4) forces one.
     * - "WorkGroupSize" and "ThreadsPerOutput" (OpenCL and CUDA platforms; others ignore them): the
     *   one work group that evaluates the CV has WorkGroupSize threads (a power of 2 up to 1024,
     *   lowered to what the device and kernel allow; "auto": 512 on a GPU, 16 on a CPU device), and
     *   each output of a dense layer is summed by at least ThreadsPerOutput threads (a power of 2;
     *   "auto": 1, more where a layer has fewer outputs than threads). Tuning only: results agree
     *   within rounding for every choice.
     * Throws OpenMMException for an unknown name or value. Takes effect for Contexts created afterwards.
     */
    void setProperty(const std::string& name, const std::string& value);
    /** All properties set with setProperty(). */
    const std::map<std::string, std::string>& getProperties() const;
    /**
     * Which implementation evaluates the CV in a Context containing this force, and in which
     * arithmetic: "native-single", "native-double", "native-mixed" (OpenCL, CUDA) or "torchscript"
     * (double).
     */
    std::string getImplementationInContext(const OpenMM::Context& context) const;
    /**
     * How many times the kernel of a Context containing this force has evaluated the network
     * (each force/energy evaluation and each getCollectiveVariableValues() counts one), since the
     * Context was created or reinitialized. Tests use it to check one evaluation per step.
     */
    long long getNumModelEvaluationsInContext(const OpenMM::Context& context) const;
    /**
     * False: the force does not make a System periodic. When the System uses periodic boundary
     * conditions (System::usesPeriodicBoundaryConditions() when the Context is created), the model
     * receives the selected atoms made whole, as PLUMED's WHOLEMOLECULES does: the first selected
     * atom as stored (as the user set it), and each later one shifted by whole box vectors to the
     * periodic image nearest to the (already shifted) atom before it in the selection, with the box
     * vectors of the current step (they change under a barostat) and OpenMM's reduced triclinic box
     * (shift along c, then b, then a). A molecule stored wrapped across the box (as a PDB file may
     * hold it) thus gives the same CV, energy and forces as the whole molecule, provided the
     * selection's consecutive atoms lie within half a box of each other. Forces act on the stored
     * atoms unchanged (a shift by box vectors has unit Jacobian). In a non-periodic System (and
     * inside a CustomCVForce, whose inner System is not periodic) positions are used as stored.
     */
    bool usesPeriodicBoundaryConditions() const {
        return false;
    }
    /** The loaded bundle (internal use by kernels). */
    const VAEModelBundle& getBundle() const;
protected:
    OpenMM::ForceImpl* createImpl() const;
private:
    std::shared_ptr<VAEModelBundle> bundle;
    std::vector<int> atoms;
    EnergyMode mode;
    int component;
    std::vector<double> centers, forceConstants;
    std::shared_ptr<const LatentGrid> grid;
    std::string prefix;
    std::map<std::string, std::string> properties;
};

} // namespace VAEPlugin

#endif /*OPENMM_VAE_CVFORCE_H_*/
