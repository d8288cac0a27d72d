"""Peak shapes and broadening: Caglioti width, pseudo-Voigt, the fast warped-axis broadener and the exact
dense reference sum.

All angles are 2θ in degrees; a profile is an intensity density per degree 2θ (each peak has unit area
times its integrated intensity). Normalisation to max 1 is the simulator's job, not this module's.

Fast scheme (:class:`WarpedBroadener`), see also /work/shared/notes/simulator-speed.md:

1. width-warped axis u(2θ) = ∫₀^2θ d(2θ′)/H(2θ′) (dimensionless, in FWHMs): along u every peak has
   FWHM ≈ 1, so one fixed kernel p₁ (pseudo-Voigt of unit FWHM) serves every peak;
2. each peak is deposited on a uniform u-grid (step h = 1/points_per_fwhm) with cubic B-spline weights;
3. one rFFT convolution with p₁, whose transform is divided by the squared transform of the sampled
   B-spline (2/3 + cos(ω)/3)², so deposit + read-back together are cubic-spline interpolation (4th order,
   exact at the nodes);
4. read-back at the fixed output angles with cubic B-spline weights, times 1/H(2θ) (density per degree).

The approximation: f(x) = Σ_k I_k p₁(u(x) − u(x_k)) / H(x) instead of the exact Σ_k I_k p₁((x − x_k)/H_k)/H_k.
The two agree to first order in H′ = dH/d2θ; for the Lorentzian tails the 1/H(x) read-back factor matches
the exact tail to first order as well. The convolution is circular over L ≥ N + padding nodes; peaks
further apart than L/2 see each other's tails wrapped (error ~ p₁(pad) ≈ 1/(π pad²)).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from xrdtui.errors import ConfigError

_LN2 = math.log(2.0)


def caglioti_fwhm(two_theta, U: float, V: float, W: float):
    """Caglioti peak width H (FWHM, degrees 2θ) at 2θ (degrees): H² = U tan²θ + V tanθ + W, θ = 2θ/2.

    Works on numpy arrays and torch tensors alike.
    """
    lib = torch if isinstance(two_theta, torch.Tensor) else np
    t = lib.tan(two_theta * (math.pi / 360.0))
    return lib.sqrt(U * t * t + V * t + W)


def pseudo_voigt(x, fwhm, eta: float):
    """Area-normalised pseudo-Voigt (1/degree) at offset x (degrees) from the centre, FWHM H (degrees).

    pV = η·G + (1 − η)·L with G = (2/H)·sqrt(ln2/π)·exp(−4 ln2 x²/H²) and L = (2/(πH)) / (1 + 4x²/H²).
    """
    lib = torch if isinstance(x, torch.Tensor) else np
    z2 = (x / fwhm) ** 2
    gauss = (2.0 / fwhm) * math.sqrt(_LN2 / math.pi) * lib.exp(-4.0 * _LN2 * z2)
    lorentz = (2.0 / (math.pi * fwhm)) / (1.0 + 4.0 * z2)
    return eta * gauss + (1.0 - eta) * lorentz


def dense_profile(two_theta, positions, intensities, U: float, V: float, W: float, eta: float,
                  chunk: int = 64) -> torch.Tensor:
    """Exact reference: Σ_k I_k pV(2θ − 2θ_k; H(2θ_k)) at every output angle, float64 [B, M].

    two_theta: [M] output angles (degrees); positions, intensities: [B, R] (degrees, arbitrary units).
    Evaluated densely in chunks of ``chunk`` peaks (memory B·chunk·M); slow, for validation only.
    """
    x = torch.as_tensor(np.asarray(two_theta), dtype=torch.float64)
    pos = torch.as_tensor(positions).detach().to(torch.float64).cpu()
    inten = torch.as_tensor(intensities).detach().to(torch.float64).cpu()
    out = torch.zeros(pos.shape[0], x.shape[0], dtype=torch.float64)
    for start in range(0, pos.shape[1], chunk):
        p = pos[:, start:start + chunk, None]
        h = caglioti_fwhm(p, U, V, W)
        out += (inten[:, start:start + chunk, None] * pseudo_voigt(x - p, h, eta)).sum(1)
    return out


def _smooth_fft_length(n: int) -> int:
    """Smallest integer ≥ n of the form 2^a 3^b 5^c (fast sizes for torch.fft / pocketfft)."""
    best = 1 << max(0, (n - 1).bit_length())
    p5 = 1
    while p5 < 2 * n:
        p35 = p5
        while p35 < 2 * n:
            m = p35
            while m < n:
                m *= 2
            best = min(best, m)
            p35 *= 3
        p5 *= 5
    return best


class WarpedBroadener:
    """Fast pseudo-Voigt broadening on a width-warped axis (see module docstring).

    Parameters: ``two_theta`` output angles [M] (degrees, ascending), Caglioti U, V, W (deg²), η,
    ``max_peak_two_theta`` the largest peak position that must be representable (degrees),
    ``points_per_fwhm`` grid density (1/h), ``pad_fwhm`` extra FFT length in FWHMs against wrap-around.
    Call with positions [B, R] (degrees) and intensities [B, R] → profile [B, M] (1/degree), in ``dtype``.
    Differentiable in both positions and intensities.
    """

    TABLE_STEP = 1e-3  # degrees; linear interpolation of u(2θ) on this table errs by < 1e-8 FWHM

    def __init__(self, two_theta, U: float, V: float, W: float, eta: float, max_peak_two_theta: float,
                 points_per_fwhm: float = 8.0, pad_fwhm: float = 40.0, dtype=torch.float32,
                 device="cpu"):
        x_out = np.asarray(two_theta, dtype=np.float64)
        x_hi = max(float(max_peak_two_theta), float(x_out[-1])) + 0.5
        if x_hi >= 179.0:
            raise ConfigError("peak range must stay below 2θ = 179°")
        if not 0.0 <= eta <= 1.0:
            raise ConfigError(f"pseudo-Voigt eta must be in [0, 1], got {eta}")
        # fine table of u(2θ) by Simpson's rule from 2θ = 0
        n_tab = int(math.ceil(x_hi / self.TABLE_STEP)) + 2
        xt = np.arange(n_tab) * self.TABLE_STEP
        h_nodes = caglioti_fwhm(xt, U, V, W)
        h_mid = caglioti_fwhm(xt[:-1] + self.TABLE_STEP / 2, U, V, W)
        if not (np.all(np.isfinite(h_nodes)) and np.all(h_nodes > 0) and np.all(h_mid > 0)):
            raise ConfigError(f"Caglioti width must be positive on 0-{x_hi:.1f} deg (U={U}, V={V}, W={W})")
        seg = self.TABLE_STEP / 6.0 * (1.0 / h_nodes[:-1] + 4.0 / h_mid + 1.0 / h_nodes[1:])
        u_tab = np.concatenate([[0.0], np.cumsum(seg)])

        self.h = 1.0 / float(points_per_fwhm)
        self.u_lo = -2.0 * self.h
        u_hi = u_tab[-1] + 2.0 * self.h
        self.n_nodes = int(math.ceil((u_hi - self.u_lo) / self.h)) + 1
        self.fft_len = _smooth_fft_length(self.n_nodes + int(math.ceil(pad_fwhm / self.h)))
        self.dtype, self.device = dtype, torch.device(device)

        # grid coordinate t(2θ) = (u − u_lo)/h: table + slope for linear interpolation of peak positions
        t_tab = (u_tab - self.u_lo) / self.h
        self._t_tab = torch.tensor(t_tab, dtype=dtype, device=self.device)
        self._t_slope = torch.tensor(np.diff(t_tab, append=t_tab[-1]), dtype=dtype, device=self.device)
        self._n_tab = n_tab

        # kernel: unit-FWHM pseudo-Voigt at circular distances, prefiltered by the squared B-spline symbol
        m = np.arange(self.fft_len)
        dist = np.minimum(m, self.fft_len - m) * self.h
        kernel = pseudo_voigt(dist, 1.0, eta)
        khat = np.fft.rfft(kernel)
        omega = 2.0 * math.pi * np.arange(khat.shape[0]) / self.fft_len
        khat = khat / (2.0 / 3.0 + np.cos(omega) / 3.0) ** 2
        cdtype = torch.complex64 if dtype == torch.float32 else torch.complex128
        self._khat = torch.tensor(khat, dtype=cdtype, device=self.device)

        # read-back: cubic B-spline weights at the fixed output angles, times 1/H (density per degree)
        t_out = np.interp(x_out, xt, t_tab)
        j = np.floor(t_out)
        f = t_out - j
        w = _bspline_weights_np(f) / caglioti_fwhm(x_out, U, V, W)
        self._rb_idx = torch.tensor((j[None, :] - 1 + np.arange(4)[:, None]).astype(np.int64), device=self.device)
        self._rb_w = torch.tensor(w, dtype=dtype, device=self.device)
        self.n_out = x_out.shape[0]

    def grid_coordinate(self, positions: torch.Tensor) -> torch.Tensor:
        """Grid coordinate t = (u(2θ) − u_lo)/h of peak positions (degrees), clamped to the grid."""
        s = (positions.to(self.dtype) / self.TABLE_STEP).clamp(0.0, self._n_tab - 2)
        i = s.detach().floor().long()
        t = self._t_tab[i] + (s - i) * self._t_slope[i]
        return t.clamp(1.0, self.n_nodes - 3.0)

    def __call__(self, positions: torch.Tensor, intensities: torch.Tensor) -> torch.Tensor:
        b = positions.shape[0]
        t = self.grid_coordinate(positions)
        j = t.detach().floor()
        w = _bspline_weights(t - j) * intensities.to(self.dtype)[..., None]  # [B, R, 4]
        idx = (j.long()[..., None] - 1 + torch.arange(4, device=self.device)).reshape(b, -1)
        grid = torch.zeros(b, self.fft_len, dtype=self.dtype, device=self.device)
        grid = grid.scatter_add(1, idx, w.reshape(b, -1))
        conv = torch.fft.irfft(torch.fft.rfft(grid) * self._khat, n=self.fft_len)
        out = conv[:, self._rb_idx[0]] * self._rb_w[0]
        for q in range(1, 4):
            out = out + conv[:, self._rb_idx[q]] * self._rb_w[q]
        return out


def _bspline_weights(f: torch.Tensor) -> torch.Tensor:
    """Cubic B-spline weights [..., 4] of nodes j−1, j, j+1, j+2 for a point at j + f, f in [0, 1)."""
    f2 = f * f
    f3 = f2 * f
    g = 1.0 - f
    return torch.stack([g * g * g / 6.0, (3.0 * f3 - 6.0 * f2 + 4.0) / 6.0,
                        (-3.0 * f3 + 3.0 * f2 + 3.0 * f + 1.0) / 6.0, f3 / 6.0], -1)


def _bspline_weights_np(f: np.ndarray) -> np.ndarray:
    """numpy twin of :func:`_bspline_weights`, nodes along axis 0: [4, ...]."""
    return np.moveaxis(_bspline_weights(torch.as_tensor(f)).numpy(), -1, 0)
