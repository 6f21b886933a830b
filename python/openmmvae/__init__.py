"""openmmvae: collective variables learned by variational autoencoders, as OpenMM forces.

Importing this package imports `openmm` first (so that OpenMM's own plugins, e.g. the CPU and
OpenCL platforms, are loaded) and then loads the openmmvae kernel plugins with
openmm.Platform.loadPluginsFromDirectory() from the directory this copy of the package was built
or installed for (see _config.py); the environment variable OPENMMVAE_PLUGIN_DIR overrides it.

    import openmm, openmmvae
    force = openmmvae.VAECVForce("model.pt")       # or bytes, or a torch.jit.ScriptModule
    force.useHarmonicRestraint([0.5], [100.0])      # E = 0.5 * kappa * (z0 - c0)^2
    system.addForce(force)

The API: VAECVForce, VAEMCIntegrator and LatentGrid (the C++ classes), LatentMetadynamics and OPES
(enhanced sampling with a LatentGrid bias inside one VAECVForce), and the module openmmvae.wham
(unbiasing umbrella windows); slowForceIntegrator (the CV evaluated every k MD steps, multiple
time steps: openmmvae.slow_force); train and sweep (the C++ trainer of `openmm-vae`, run in this process:
openmmvae.training). Units follow OpenMM's wrapper: getters of physical parameters return
openmm.unit Quantities, setters take Quantities or plain numbers in OpenMM units, latent
coordinates are plain floats. The applications (the end-to-end demo, the Mueller and alanine
dipeptide systems, simulate, plots, ramachandran) are in the subpackage openmmvae.apps.
"""

import os as _os
import warnings as _warnings

import openmm as _openmm  # first: loads OpenMM's own plugins

from . import _config
from .openmmvae import LatentGrid, VAECVForce, VAEMCIntegrator
from .metadynamics import LatentMetadynamics
from .opes import OPES
from .slow_force import slowForceIntegrator
from . import wham
from .training import SweepResult, TrainingError, TrainingResult, sweep, train, trainOptions

__all__ = ["LatentGrid", "LatentMetadynamics", "OPES", "VAECVForce", "VAEMCIntegrator", "slowForceIntegrator", "wham",
           "pluginDirectory", "pluginLoadedLibNames", "train", "sweep", "TrainingResult", "SweepResult", "TrainingError", "trainOptions"]


def _load_plugins():
    directory = _os.environ.get("OPENMMVAE_PLUGIN_DIR") or _config.PLUGIN_DIR
    directory = _os.path.abspath(directory)
    if not _os.path.isdir(directory):
        _warnings.warn("openmmvae: plugin directory %s does not exist; VAECVForce cannot be used in a Context "
                       "(set OPENMMVAE_PLUGIN_DIR)" % directory, RuntimeWarning)
        return directory, []
    # Skip libraries OpenMM already loaded (e.g. when OPENMM_PLUGIN_DIR names this directory).
    already = {_os.path.realpath(name) for name in getattr(_openmm, "pluginLoadedLibNames", [])}
    if any(_os.path.realpath(_os.path.join(directory, f)) in already for f in _os.listdir(directory)):
        return directory, [name for name in already if _os.path.dirname(name) == _os.path.realpath(directory)]
    loaded = list(_openmm.Platform.loadPluginsFromDirectory(directory))
    failures = [f for f in _openmm.Platform.getPluginLoadFailures() if directory in f or "VAE" in f]
    if failures or not loaded:
        _warnings.warn("openmmvae: no kernel plugin could be loaded from %s: %s" % (directory, "; ".join(failures) or
                       "no plugin library found"), RuntimeWarning)
    return directory, loaded


pluginDirectory, pluginLoadedLibNames = _load_plugins()
