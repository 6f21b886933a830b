"""Loads a bundle written by the C++ trainer with Python's torch.jit.load and compares its methods
with values the C++ side computed (BundleTest.PythonLoadsAndReproduces)."""
import json
import sys

import numpy as np
import torch

d = sys.argv[1]
extra = {"metadata.json": ""}
m = torch.jit.load(d + "/model.pt", _extra_files=extra)
m = m.to(torch.float64)
meta = json.loads(extra["metadata.json"])
for key in ("format_version", "atoms", "latent", "features", "standardization", "architecture", "temperature",
            "beta", "provenance"):
    assert key in meta, key
assert meta["atoms"] == [0] and meta["latent"] == 1, meta


def load(name):
    return torch.from_numpy(np.load(d + "/" + name + ".npy"))


def check(got, want, what):
    got = got.detach().reshape(want.shape)
    ok = torch.all((got - want).abs() <= 1e-6 * want.abs() + 1e-12)
    if not ok:
        print(what, "differs: max", (got - want).abs().max().item())
        sys.exit(1)


x, z = load("x"), load("z")
mu, logvar = m.encode(x)
check(mu, load("mu"), "encoder mean")
check(logvar, load("logvar"), "encoder log-variance")
check(m.decoder_log_prob(x, z), load("decoder_log_prob"), "decoder log-density")
check(m.prior_log_prob(z), load("prior_log_prob"), "prior log-density")
positions = torch.cat([x, torch.zeros(x.shape[0], 1, dtype=torch.float64)], 1).unsqueeze(1)
check(m.latent_mean(positions), load("latent_mean"), "latent mean")
check(m(positions[0, :, :]), load("latent_mean")[0], "forward")
features, log_j = m.featurize(positions)
check(features, x, "featurize")
print("python bundle check passed")
