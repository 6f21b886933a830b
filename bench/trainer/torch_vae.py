"""PyTorch reference of the trainer's VAE (science.md section 1) for the benchmark: same layers, same
flow prior (4 rational-quadratic spline coupling blocks), same four decoders, same loss, trained
with Adam at batch 200 on the same .npy data. Non-periodic features only (the benchmark data).

usage: torch_vae.py DATA.npy DECODER HIDDEN LATENT EPOCHS THREADS -> prints "samples/s <value>"
TORCH_DEVICE=cuda trains on the GPU (bench/gpu/run).
"""
import math
import os
import sys
import time

data_path, decoder_kind, H, L, epochs, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), \
    int(sys.argv[5]), int(sys.argv[6])
os.environ.setdefault("OPENBLAS_NUM_THREADS", str(threads))
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

torch.set_num_threads(int(os.environ.get("TORCH_THREADS", "1")))
torch.manual_seed(1)
K = 32
LOG2PI = math.log(2 * math.pi)


def glorot(layer):
    nn.init.xavier_uniform_(layer.weight)
    if layer.bias is not None:
        nn.init.zeros_(layer.bias)
    return layer


def rq_spline(x, raw, bound):
    """Monotone rational-quadratic spline on [-bound, bound], identity outside; explicit direction.
    x [..., n], raw [..., n, 3K-1] -> (y, log|dy/dx|)."""
    w = F.softmax(raw[..., :K], -1) * (2 * bound - K * 0.01) + 0.01
    h = F.softmax(raw[..., K:2 * K], -1) * (2 * bound - K * 0.01) + 0.01
    d = F.softplus(raw[..., 2 * K:]) + 0.01
    d = F.pad(d, (1, 1), value=1.0)
    xk = F.pad(torch.cumsum(w, -1), (1, 0)) - bound
    yk = F.pad(torch.cumsum(h, -1), (1, 0)) - bound
    inside = (x > -bound) & (x < bound)
    xc = x.clamp(-bound, bound)
    idx = torch.searchsorted(xk[..., 1:-1].contiguous(), xc.unsqueeze(-1)).clamp(0, K - 1)
    g = lambda t: t.gather(-1, idx).squeeze(-1)  # noqa: E731
    x0, y0, wk, hk, d0, d1 = g(xk), g(yk), g(w), g(h), g(d[..., :-1]), g(d[..., 1:])
    s = hk / wk
    xi = (xc - x0) / wk
    xi1 = xi * (1 - xi)
    den = s + (d1 + d0 - 2 * s) * xi1
    y = y0 + hk * (s * xi * xi + d0 * xi1) / den
    logdet = 2 * torch.log(s) + torch.log(d1 * xi * xi + 2 * s * xi1 + d0 * (1 - xi) ** 2) - 2 * torch.log(den)
    return torch.where(inside, y, x), torch.where(inside, logdet, torch.zeros_like(logdet))


class Prior(nn.Module):
    """4 RealNVP coupling blocks; density direction z -> eps uses the explicit spline formula."""

    def __init__(self, latent, hidden=20, blocks=4):
        super().__init__()
        self.latent = latent
        self.half = latent // 2
        self.nets = nn.ModuleList()
        for k in range(blocks):
            n_in, n_out = self.split(k)
            self.nets.append(nn.Sequential(glorot(nn.Linear(n_in, hidden)), nn.ReLU(),
                                           glorot(nn.Linear(hidden, n_out * (3 * K - 1)))))

    def split(self, k):
        if self.latent == 1:
            return 1, 1
        cond = self.half if k % 2 == 0 else self.latent - self.half
        return cond, self.latent - cond

    def log_prob(self, z):
        logdet = z.new_zeros(z.shape[0])
        x = z
        for k in reversed(range(len(self.nets))):
            if self.latent == 1:
                cond, tr = z.new_ones(z.shape[0], 1), x
            elif k % 2 == 0:
                cond, tr = x[:, :self.half], x[:, self.half:]
            else:
                cond, tr = x[:, self.latent - self.half:], x[:, :self.latent - self.half]
            raw = self.nets[k](cond).view(x.shape[0], tr.shape[1], 3 * K - 1)
            y, ld = rq_spline(tr, raw, 10.0)
            logdet = logdet + ld.sum(-1)
            if self.latent == 1:
                x = y
            elif k % 2 == 0:
                x = torch.cat([cond, y], 1)
            else:
                x = torch.cat([y, cond], 1)
        return -0.5 * (x * x).sum(-1) - 0.5 * self.latent * LOG2PI + logdet


class MaskedLinear(nn.Linear):
    def __init__(self, n_in, n_out, mask):
        super().__init__(n_in, n_out)
        glorot(self)
        self.register_buffer("mask", mask)

    def forward(self, x):
        return F.linear(x, self.weight * self.mask, self.bias)


class MADE(nn.Module):
    """One tanh hidden layer; outputs `per` values per feature; z skips into every masked layer."""

    def __init__(self, D, H, latent, per, reverse=False):
        super().__init__()
        deg_in = torch.arange(1, D + 1)
        if reverse:
            deg_in = deg_in.flip(0)
        deg_h = torch.tensor([min(math.ceil(k * (D - 1) / (H + 1)), D - 1) for k in range(1, H + 1)])
        mask_h = (deg_in[None, :] <= deg_h[:, None]).float()
        deg_out = deg_in.repeat_interleave(per)
        mask_o = (deg_h[None, :] < deg_out[:, None]).float()
        self.hidden = MaskedLinear(D, H, mask_h)
        self.out = MaskedLinear(H, D * per, mask_o)
        self.skip_h = glorot(nn.Linear(latent, H, bias=False))
        self.skip_o = glorot(nn.Linear(latent, D * per, bias=False))
        self.D, self.per = D, per

    def forward(self, x, z):
        h = torch.tanh(self.hidden(x) + self.skip_h(z))
        return (self.out(h) + self.skip_o(z)).view(x.shape[0], self.D, self.per)


def gauss_log_prob(x, loc, logvar):
    return -0.5 * ((x - loc) ** 2 * torch.exp(-logvar) + LOG2PI + logvar).sum(-1)


class VAE(nn.Module):
    def __init__(self, D, H, latent, kind):
        super().__init__()
        self.kind = kind
        self.enc = nn.Sequential(glorot(nn.Linear(D, H)), nn.ReLU(), glorot(nn.Linear(H, H)), nn.ReLU())
        self.mean, self.logvar = glorot(nn.Linear(H, latent)), glorot(nn.Linear(H, latent))
        self.prior = Prior(latent)
        if kind == "flow":
            self.dec = nn.Sequential(glorot(nn.Linear(latent, H)), nn.Tanh(), glorot(nn.Linear(H, 2 * D)))
            self.mafs = nn.ModuleList([MADE(D, H, latent, 3 * K - 1, reverse=(k % 2 == 1)) for k in range(2)])
        else:
            self.dec = nn.Sequential(glorot(nn.Linear(latent, H)), nn.Tanh(), glorot(nn.Linear(H, H)), nn.Tanh(),
                                     glorot(nn.Linear(H, D if kind == "mse" else 2 * D)))
            if kind == "autoregressive":
                self.made = MADE(D, H, latent, 2)
        self.D = D

    def decoder_log_prob(self, x, z):
        if self.kind == "mse":
            return -0.5 * ((x - self.dec(z)) ** 2 + LOG2PI).sum(-1)
        out = self.dec(z).view(x.shape[0], self.D, 2)
        if self.kind == "condind":
            return gauss_log_prob(x, out[..., 0], out[..., 1].clamp(min=-15))
        if self.kind == "autoregressive":
            out = out + self.made(x, z)
            return gauss_log_prob(x, out[..., 0], out[..., 1].clamp(min=-15))
        c = 2 * math.pi / 20
        y = x * c
        logdet = x.new_zeros(x.shape[0])
        for maf in self.mafs:
            y, ld = rq_spline(y, maf(y, z), math.pi)
            logdet = logdet + ld.sum(-1)
        return gauss_log_prob(y / c, out[..., 0], out[..., 1].clamp(min=-15)) + logdet

    def loss(self, x, beta):
        h = self.enc(x)
        mu, logvar = self.mean(h), self.logvar(h)
        eps = torch.randn_like(mu)
        z = mu + torch.exp(0.5 * logvar) * eps
        log_q = (-0.5 * (eps * eps + LOG2PI + logvar)).sum(-1)
        recon = -self.decoder_log_prob(x, z).mean()
        kl = (log_q - self.prior.log_prob(z)).mean()
        return recon + beta * kl, recon, kl


data = torch.from_numpy(np.load(data_path).astype(np.float32))
data = (data - data.mean(0)) / data.std(0)
n_train = int(round(0.95 * data.shape[0]))
train = data[:n_train]
device = torch.device(os.environ.get("TORCH_DEVICE", "cpu"))
train = train.to(device)
model = VAE(data.shape[1], H, L, decoder_kind).to(device)
opt = torch.optim.Adam(model.parameters(), lr=1e-4)
rates = []
for epoch in range(epochs):
    perm = torch.randperm(n_train, device=device)
    shuffled = train[perm]
    t0 = time.perf_counter()
    for b in range(0, n_train, 200):
        total, recon, kl = model.loss(shuffled[b:b + 200], 1.0)
        opt.zero_grad()
        total.backward()
        opt.step()
    if device.type == "cuda":
        torch.cuda.synchronize()  # the queue is asynchronous: time what it did
    rates.append(n_train / (time.perf_counter() - t0))
print("samples/s %.0f" % (sorted(rates[1:])[len(rates[1:]) // 2] if len(rates) > 1 else rates[0]))
