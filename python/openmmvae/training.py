"""Train, inspect and sweep VAEs from Python: the C++ trainer of `openmm-vae`, run in this process.

    import openmmvae
    result = openmmvae.train("runs/ala", trajectory="ala.dcd", topology="ala.pdb", betas=[1], epochs=50)
    result.bundle()                    # runs/ala/beta-1/model.pt, for VAECVForce / VAEMCIntegrator
    result.losses()["val_total"]       # losses.csv as NumPy arrays
    result.metrics(system=system)      # JD_encode, active dims, JD_prior, total correlation, f_acc
    result.plotLatent(); result.plotLosses()

Every option of `openmm-vae train` is a keyword with the flag's name in snake case (``learning_rate``
for ``--learning-rate``) and the same default; lists may be Python lists. Data come as one of:

- ``system="mueller"`` (a built-in 2-D system);
- ``data=`` a ``.npy`` path or a 2-D NumPy array of raw features [samples, columns];
- ``trajectory=`` a DCD path, a NumPy array of positions [frames, atoms, 3] in nm (or an
  ``openmm.unit`` Quantity), an ``mdtraj.Trajectory`` or an MDAnalysis ``Universe`` / ``AtomGroup``,
  with ``topology=`` a PDB path or an ``openmm.app.Topology`` where the object does not carry one.
  Features default to ``bat`` for trajectories.

Arrays and trajectory objects are written to OUT/input/ (positions.npy, topology.pdb) so that the run
can be resumed and its provenance read. Progress is a bar in notebooks (when tqdm is installed) and
the trainer's own lines in terminals (``progress="lines"``, ``"bar"`` or ``False`` chooses). Ctrl-C
(KeyboardInterrupt) stops at the last epoch's checkpoint: the same call with ``resume=True`` goes on.
Errors of the options or data raise :class:`TrainingError` with the trainer's message, which names the
flag (``--learning-rate`` is the keyword ``learning_rate``).
"""

import json
import os
import sys

import numpy as np

__all__ = ["train", "sweep", "TrainingResult", "SweepResult", "TrainingError", "trainOptions"]


class TrainingError(RuntimeError):
    """The trainer refused the options or the data, or failed while training (its message)."""


def _trainer():
    try:
        from . import _trainer as module
    except ImportError as e:  # a build without the trainer (VAE_BUILD_TRAINER=OFF)
        raise ImportError("openmmvae was built without its trainer (_trainer module): %s" % e) from None
    return module


def trainOptions(command="train"):
    """The options of `openmm-vae COMMAND` (train, metrics, sweep) as dicts: name, group, default, help, ..."""
    return _trainer().options(command)


# ---- options -> command-line arguments ----

def _flag_text(value):
    try:
        from openmm import unit
        if unit.is_quantity(value):
            raise TypeError("give plain numbers in the trainer's units (kelvin, nm), not %r" % (value,))
    except ImportError:
        pass
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _arguments(command, options, positional=()):
    """`command` and its flags for the keyword options (None values are left out: the trainer's default)."""
    known = {o["name"]: o for o in _trainer().options(command)}
    args = [command] + [str(p) for p in positional]
    for key, value in options.items():
        if value is None:
            continue
        name = key.replace("_", "-")
        if name not in known or known[name]["positional"]:
            raise TypeError("%s() got an unexpected option %r; the options are: %s"
                            % (command, key, ", ".join(sorted(n.replace("-", "_") for n, o in known.items()
                                                              if not o["positional"]))))
        if not known[name]["takes_value"]:
            if not isinstance(value, (bool, np.bool_)):
                raise TypeError("%s(): option %r is a switch: give True or False, not %r" % (command, key, value))
            if value:
                args.append("--" + name)
            continue
        if isinstance(value, (list, tuple, np.ndarray)):
            value = ",".join(_flag_text(v) for v in value)
        args += ["--" + name, _flag_text(value)]
    return args


# ---- progress ----

def _in_notebook():
    shell = sys.modules.get("IPython")
    if shell is None:
        return False
    try:
        ip = shell.get_ipython()
    except Exception:
        return False
    return ip is not None and "IPKernelApp" in getattr(ip, "config", {})


class _Progress:
    """Epochs as a tqdm bar (notebooks) or the trainer's lines (terminals), or nothing."""

    def __init__(self, mode):
        if mode is None:
            mode = "bar" if _in_notebook() else "lines"
        if mode not in ("bar", "lines", False):
            raise ValueError("progress must be 'bar', 'lines', False or None (automatic), not %r" % (mode,))
        self.bar = None
        self.mode = mode
        if mode == "bar":
            try:
                from tqdm.auto import tqdm
                self._tqdm = tqdm
            except ImportError:
                self.mode = "lines"

    def on_epoch(self, p):
        if self.mode != "bar":
            return
        if self.bar is None:
            self.bar = self._tqdm(total=p["run_epochs"], unit="epoch", initial=p["run_epochs_done"] - 1)
        self.bar.n = p["run_epochs_done"]
        stage = ("replica %d " % p["replica"] if p["replicas"] > 1 else "") + "beta-" + p["stage"]
        self.bar.set_description(stage + (" prior" if p["prior"] else ""))
        self.bar.set_postfix(loss="%.4f" % p["loss"], val="%.4f" % p["validation_loss"], refresh=False)
        self.bar.refresh()

    def on_output(self, line):
        if self.mode == "lines":
            print(line, flush=True)
        elif self.mode == "bar" and "epoch " not in line:
            (self.bar.write if self.bar is not None else print)(line)

    def close(self):
        if self.bar is not None:
            self.bar.close()


def _run(args, progress=None, on_epoch=None):
    """Runs `openmm-vae ARGS` here; raises TrainingError or KeyboardInterrupt as the run ended."""
    shown = _Progress(progress)

    def epoch_done(p):
        shown.on_epoch(p)
        if on_epoch is not None:
            on_epoch(p)

    try:
        status, errors, interrupted = _trainer().run(args, epoch_done, shown.on_output)
    finally:
        shown.close()
    if interrupted:
        raise KeyboardInterrupt("openmm-vae %s stopped at its last checkpoint; the same call with resume=True "
                                "continues it" % args[0])
    if status != 0:
        message = errors.strip() or "openmm-vae %s ended with status %d" % (args[0], status)
        raise TrainingError(message)
    if errors.strip():
        sys.stderr.write(errors)


# ---- data -> files the trainer reads ----

def _positions_nm(value):
    try:
        from openmm import unit
        if unit.is_quantity(value):
            value = value.value_in_unit(unit.nanometer)
    except ImportError:
        pass
    array = np.asarray(value)
    if array.ndim == 2 and array.shape[1] == 3:
        array = array[None]  # one frame
    if array.ndim != 3 or array.shape[2] != 3:
        raise ValueError("trajectory positions must be [frames, atoms, 3] in nm, got shape %s" % (array.shape,))
    if array.dtype not in (np.float32, np.float64):
        array = array.astype(np.float64)
    return array


def _write_pdb(topology, positions_nm, path):
    import openmm.app
    from openmm import unit
    with open(path, "w") as f:
        openmm.app.PDBFile.writeFile(topology, positions_nm * unit.nanometer, f)


def _trajectory_files(trajectory, topology, folder):
    """(trajectory path, PDB path) for what `trajectory` and `topology` are."""
    if isinstance(trajectory, (str, os.PathLike)):
        path = os.fspath(trajectory)
        if isinstance(topology, (str, os.PathLike)):
            return path, os.fspath(topology)
        if topology is None or not path.endswith(".npy"):
            raise ValueError("trajectory=%r needs topology= as a PDB path" % path)
        first = _positions_nm(np.load(path, mmap_mode="r")[0])[0]
        top, trajectory_path = topology, path
    else:
        module = type(trajectory).__module__.split(".")[0]
        top = topology
        if module == "mdtraj":
            positions = trajectory.xyz
            top = topology if topology is not None else trajectory.topology.to_openmm()
        elif module == "MDAnalysis":
            atoms = getattr(trajectory, "atoms", trajectory)
            positions = np.asarray([atoms.positions.copy() for _ in atoms.universe.trajectory]) / 10.0  # A -> nm
            if topology is None:
                os.makedirs(folder, exist_ok=True)
                top = os.path.join(folder, "topology.pdb")
                atoms.universe.trajectory[0]  # back to the first frame: the PDB's coordinates
                atoms.write(top)
        else:
            positions = trajectory
        if top is None:
            raise ValueError("trajectory positions need topology= (a PDB path or an openmm.app.Topology)")
        positions = _positions_nm(positions)
        os.makedirs(folder, exist_ok=True)
        trajectory_path = os.path.join(folder, "positions.npy")
        np.save(trajectory_path, positions)
        first = positions[0]
    if isinstance(top, (str, os.PathLike)):
        return trajectory_path, os.fspath(top)
    pdb = os.path.join(folder, "topology.pdb")
    os.makedirs(folder, exist_ok=True)
    _write_pdb(top, np.asarray(first, dtype=np.float64), pdb)
    return trajectory_path, pdb


# ---- results ----

def _read_csv(path):
    """A CSV file of numbers with a header line (losses.csv) as {column: array}."""
    with open(path) as f:
        names = f.readline().strip().split(",")
    values = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2).reshape(-1, len(names))
    return {name: values[:, k] for k, name in enumerate(names)}


class TrainingResult:
    """The output folder of a training run: bundles, losses, metrics and plots per beta (and replica)."""

    def __init__(self, out, betas, replicas=1, data=(), trajectory=None):
        self.out = os.fspath(out)
        self.betas = [str(b) for b in betas]
        self.replicas = replicas
        self._data = list(data)          # how `openmm-vae metrics` finds the training data
        self._trajectory = trajectory    # (positions file, PDB) of molecular data

    def __repr__(self):
        return "TrainingResult(%r, betas=%r, replicas=%d)" % (self.out, self.betas, self.replicas)

    def _stage(self, beta, replica):
        beta = self.betas[-1] if beta is None else str(beta)
        if beta not in self.betas:
            raise ValueError("beta %s is not one of this run's betas %s" % (beta, self.betas))
        if not 0 <= replica < self.replicas:
            raise ValueError("replica %d is not in 0..%d" % (replica, self.replicas - 1))
        parts = [self.out] + (["replica-%d" % replica] if self.replicas > 1 else []) + ["beta-" + beta]
        return os.path.join(*parts)

    def bundle(self, beta=None, replica=0):
        """Path of the model bundle of a beta (default: the last) for VAECVForce and VAEMCIntegrator."""
        path = os.path.join(self._stage(beta, replica), "model.pt")
        if not os.path.exists(path):
            raise FileNotFoundError("%s does not exist (the run has not finished that stage)" % path)
        return path

    @property
    def bundles(self):
        """{beta: bundle path} of the first replica, for the stages that are finished."""
        return {b: os.path.join(self._stage(b, 0), "model.pt") for b in self.betas
                if os.path.exists(os.path.join(self._stage(b, 0), "model.pt"))}

    def losses(self, beta=None, replica=0, prior=False):
        """losses.csv of a stage as {column: array} (epoch, beta, total, recon, kl, val_total, val_recon,
        val_kl; nats per sample); prior=True gives prior_losses.csv of a beta = 0 stage."""
        path = os.path.join(self._stage(beta, replica), "prior_losses.csv" if prior else "losses.csv")
        if not os.path.exists(path):
            raise FileNotFoundError("%s does not exist" % path)
        return _read_csv(path)

    def metrics(self, beta=None, replica=0, system=None, positions=None, chains=None, moves=None, platform="Reference",
                temperature=None, seed=1, out=None, progress=False, **options):
        """Latent metrics of a bundle on the training data (JD_encode, active dims, JD_prior, total
        correlation; `openmm-vae metrics` in this process) and f_acc of the exact VAE-MC move.

        f_acc: for built-in systems from the trainer (``chains`` x ``moves``, defaults 1000 x 1000);
        for molecules when ``system`` (an openmm.System) is given, from a VAEMCIntegrator making pure
        moves (``chains`` chains of ``moves`` moves, defaults 20 x 50) started at random training frames
        (or at ``positions``, [chains, atoms, 3] nm) at the bundle's temperature (or ``temperature``).
        Returns the dict written to ``out`` (default: metrics.json beside the bundle); also writes
        data.npy and latent_mean.npy (``latent_samples`` rows, default 5000) in that folder.
        """
        model = self.bundle(beta, replica)
        molecular = system is not None
        out = os.fspath(out) if out is not None else os.path.join(os.path.dirname(model), "metrics.json")
        args = _arguments("metrics", dict(options, seed=seed, latent_samples=options.get("latent_samples", 5000),
                                          chains=None if molecular else chains, out=out,
                                          moves=0 if molecular else moves), positional=[model])
        args += self._data
        _run(args, progress)
        with open(out) as f:
            result = json.load(f)
        if molecular:
            result.update(_molecular_acceptance(model, system, positions if positions is not None else
                                                self._training_frames(), 20 if chains is None else chains,
                                                50 if moves is None else moves, platform, temperature, seed))
            with open(out, "w") as f:
                json.dump(result, f, indent=2)
        return result

    def _training_frames(self):
        if self._trajectory is None:
            raise ValueError("f_acc with an openmm.System needs molecular training data (trajectory=) or positions=")
        path, pdb = self._trajectory
        if path.endswith(".npy"):
            return np.load(path, mmap_mode="r")
        import mdtraj  # the frames of a DCD file
        return mdtraj.load_dcd(path, top=pdb).xyz

    def latents(self, beta=None, replica=0):
        """(data rows, encoder means) written by metrics(): raw features [n, D] and z [n, L]."""
        folder = self._stage(beta, replica)
        if not os.path.exists(os.path.join(folder, "latent_mean.npy")):  # metrics.json stays as it is
            self.metrics(beta, replica, moves=0, out=os.path.join(folder, "latent_metrics.json"))
        return np.load(os.path.join(folder, "data.npy")), np.load(os.path.join(folder, "latent_mean.npy"))

    def plotLatent(self, beta=None, replica=0, path=None, ax=None):
        """The distribution of the encoder means of the data: a histogram (L = 1) or a 2-D histogram
        (the first two latents); for 2-D data also the data coloured by z0. Saved as PNG when `path`."""
        import matplotlib.pyplot as plt
        data, z = self.latents(beta, replica)
        label = "beta-" + (self.betas[-1] if beta is None else str(beta))
        two_d_data = data.shape[1] == 2
        if ax is None:
            fig, axes = plt.subplots(1, 2 if two_d_data else 1, figsize=(9 if two_d_data else 5, 4), squeeze=False)
            axes = axes[0]
        else:
            fig, axes = ax.figure, [ax]
        if z.shape[1] == 1:
            axes[0].hist(z[:, 0], bins=80, density=True, color="tab:blue")
            axes[0].set_xlabel("z0 (encoder mean)")
            axes[0].set_ylabel("density")
        else:
            axes[0].hist2d(z[:, 0], z[:, 1], bins=60, cmap="viridis")
            axes[0].set_xlabel("z0")
            axes[0].set_ylabel("z1")
        axes[0].set_title("latent of the data, " + label)
        if two_d_data and len(axes) > 1:
            sc = axes[1].scatter(data[:, 0], data[:, 1], c=z[:, 0], s=2, cmap="coolwarm")
            fig.colorbar(sc, ax=axes[1], label="z0")
            axes[1].set_xlabel("feature 0")
            axes[1].set_ylabel("feature 1")
            axes[1].set_title("data coloured by z0")
        fig.tight_layout()
        if path is not None:
            fig.savefig(path, dpi=100)
        return fig

    def plotLosses(self, replica=0, path=None):
        """Training and held-out -ELBO per epoch of every finished stage (one panel per beta); PNG when `path`."""
        import matplotlib.pyplot as plt
        stages = [b for b in self.betas if os.path.exists(os.path.join(self._stage(b, replica), "losses.csv"))]
        if not stages:
            raise FileNotFoundError("no losses.csv in %s yet" % self.out)
        fig, axes = plt.subplots(1, len(stages), figsize=(4 * len(stages), 3.5), squeeze=False)
        for ax, b in zip(axes[0], stages):
            rows = self.losses(b, replica)
            ax.plot(rows["epoch"] + 1, rows["total"], label="training")
            ax.plot(rows["epoch"] + 1, rows["val_total"], label="held out")
            ax.set_title("beta-" + b)
            ax.set_xlabel("epoch")
            ax.set_ylabel("recon + beta KL (nats)")
            ax.legend()
        fig.tight_layout()
        if path is not None:
            fig.savefig(path, dpi=100)
        return fig


def _molecular_acceptance(model, system, frames, chains, moves, platform, temperature, seed):
    """f_acc of pure VAE-MC moves of the real integrator on `system`, chains from random frames."""
    import openmm
    from .openmmvae import VAEMCIntegrator
    frames = _positions_nm(frames)
    if temperature is None:
        with open(os.path.join(os.path.dirname(model), "config.json")) as f:
            temperature = json.load(f).get("temperature")
    if temperature is None:
        raise ValueError("f_acc needs the temperature: the bundle's data have none (train with temperature=) "
                         "and none was given")
    rng = np.random.default_rng(seed)
    integrator = VAEMCIntegrator(float(temperature), 1.0, 0.002, model)
    integrator.setMoveRandomNumberSeed(int(seed))
    context = openmm.Context(system, integrator, openmm.Platform.getPlatformByName(platform))
    for start in rng.integers(0, frames.shape[0], size=chains):
        context.setPositions(np.asarray(frames[start], dtype=np.float64))
        if system.getNumConstraints() > 0:
            context.applyConstraints(1e-8)
        integrator.attemptMoves(moves)
    attempted = integrator.getNumAttempted()
    result = {"f_acc": integrator.getAcceptanceRate(), "n_moves": attempted, "chains": chains, "moves": moves,
              "accepted": integrator.getNumAccepted(), "rejected_non_finite": integrator.getNumRejectedInvalid(),
              "mc_system": "openmm.System (%d particles), %s platform, %g K" % (system.getNumParticles(), platform,
                                                                              float(temperature))}
    return result


def train(out, *, system=None, data=None, trajectory=None, topology=None, progress=None, on_epoch=None, **options):
    """Trains VAEs over a beta schedule (`openmm-vae train` in this process) and returns a TrainingResult.

    ``out`` is the output folder. Give one of ``system``, ``data`` and ``trajectory`` (see the module
    documentation); every other keyword is an `openmm-vae train` option in snake case, with its
    default (``trainOptions()`` lists them), e.g. ``decoder="autoregressive", latent=1, betas=[0, 1],
    epochs=100, temperature=300, resume=True``. Raises TrainingError (bad options or data, with the
    trainer's message) or KeyboardInterrupt (Ctrl-C; the run is resumable with ``resume=True``).
    ``on_epoch``, if given, is called after every epoch's checkpoint with a dict (replica, stage, epoch,
    epochs, run_epochs_done, run_epochs, beta, loss, validation_loss, samples_per_second, ...); an
    exception it raises stops the run there (resumable) and is raised by train.
    """
    out = os.fspath(out)
    if sum(x is not None for x in (system, data, trajectory)) != 1:
        raise ValueError("give exactly one of system= (a built-in system), data= (features) and trajectory= "
                         "(positions)")
    if topology is not None and trajectory is None:
        raise ValueError("topology= goes with trajectory=")
    data_arguments = []
    if system is not None:
        data_arguments = ["--system", str(system)]
    elif data is not None:
        if not isinstance(data, (str, os.PathLike)):
            array = np.asarray(data, dtype=np.float64)
            if array.ndim != 2:
                raise ValueError("data= must be [samples, columns] raw features, got shape %s (positions of "
                                 "atoms go in trajectory=)" % (array.shape,))
            os.makedirs(os.path.join(out, "input"), exist_ok=True)
            data = os.path.join(out, "input", "data.npy")
            np.save(data, array)
        data_arguments = ["--data", os.fspath(data)]
    else:
        path, pdb = _trajectory_files(trajectory, topology, os.path.join(out, "input"))
        data_arguments = ["--trajectory", path, "--topology", pdb]
    args = _arguments("train", dict(options, out=out)) + data_arguments
    _run(args, progress, on_epoch)
    defaults = {o["name"]: o["default"] for o in trainOptions("train")}
    betas = options.get("betas")
    if betas is None:  # the default as --help shows it, e.g. "0 1 2 5 10"
        betas = defaults["betas"].replace(",", " ").strip("[]").split()
    elif isinstance(betas, str):
        betas = betas.split(",")
    replicas = int(options.get("replicas") or defaults["replicas"])
    molecular = trajectory is not None
    return TrainingResult(out, [str(b).strip() for b in betas], replicas, data_arguments[:2],
                          (data_arguments[1], data_arguments[3]) if molecular else None)


class SweepResult:
    """An `openmm-vae sweep` output folder: the table (rows of table.csv: decoder, beta, replicas and the
    mean and std over replicas of each quantity) and the runs."""

    def __init__(self, out, rows):
        self.out = os.fspath(out)
        self.table = rows

    def __repr__(self):
        return "SweepResult(%r, %d rows)" % (self.out, len(self.table))

    def bundle(self, decoder, beta, replica=0):
        """Path of one bundle of the sweep."""
        return os.path.join(self.out, decoder, "replica-%d" % replica, "beta-%s" % beta, "model.pt")


def sweep(out, system, *, progress=None, on_epoch=None, **options):
    """Trains decoders x betas x replicas on a built-in system with metrics and f_acc of every bundle
    (`openmm-vae sweep` in this process, one worker) and returns a SweepResult whose ``table`` holds the
    rows of table.csv. Re-running with the same options skips finished jobs and resumes an interrupted one."""
    from .apps.plots import read_table
    _run(_arguments("sweep", dict(options, out=os.fspath(out), system=system)), progress, on_epoch)
    return SweepResult(out, read_table(os.path.join(os.fspath(out), "table.csv")))
