"""Peak shapes and broadening: Caglioti width, pseudo-Voigt, the fast warped-axis broadener and the exact
dense reference sum.

All angles are 2θ in degrees. Two peak normalisations (``profile``):

* ``"height"`` (the paper's A.2, default): pV(x) = η G(x) + (1 − η) L(x) with G = exp(−4 ln2 x²/H²) and
  L = 1/(1 + 4x²/H²): each peak's *height* is its intensity (as in Crystalyze's ``pv_utils.py``).
* ``"area"``: G and L normalised to unit area (G = (2/H)√(ln2/π) exp(…), L = (2/(πH))/(1 + …)): each peak's
  *area* is its intensity, so heights scale as 1/H.

Since ∫ exp(−4 ln2 z²/H²) dz = H·½√(π/ln2) and ∫ 1/(1 + 4z²/H²) dz = H·π/2, a unit-height peak equals
H·A times a unit-area pseudo-Voigt whose Gaussian share by area is η_A = η·½√(π/ln2) / A, with
A = η·½√(π/ln2) + (1 − η)·π/2 (:func:`height_as_area`). The fast broadener works with unit-area shapes;
the simulator turns a unit-height pattern into one by scaling each intensity by A·H(2θ_k) and passing η_A.
Normalisation to max 1 is the simulator's job, not this module's.

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


GAUSS_AREA_PER_FWHM = 0.5 * math.sqrt(math.pi / _LN2)  # ∫ exp(−4 ln2 z²) dz = 1.0645
LORENTZ_AREA_PER_FWHM = 0.5 * math.pi  # ∫ 1/(1 + 4 z²) dz = 1.5708


def pseudo_voigt_height(x, fwhm, eta: float):
    """Unit-height pseudo-Voigt of paper A.2 at offset x (degrees) from the centre, FWHM H (degrees):
    pV = η·exp(−4 ln2 x²/H²) + (1 − η)/(1 + 4x²/H²); pV(0) = 1."""
    lib = torch if isinstance(x, torch.Tensor) else np
    z2 = (x / fwhm) ** 2
    return eta * lib.exp(-4.0 * _LN2 * z2) + (1.0 - eta) / (1.0 + 4.0 * z2)


def height_as_area(eta: float) -> tuple[float, float]:
    """(A, η_A): a unit-height pseudo-Voigt of FWHM H and mixing η is H·A times the unit-area one of
    mixing η_A (the Gaussian share of the area); see the module docstring."""
    area = eta * GAUSS_AREA_PER_FWHM + (1.0 - eta) * LORENTZ_AREA_PER_FWHM
    return area, eta * GAUSS_AREA_PER_FWHM / area


def dense_profile(two_theta, positions, intensities, U: float, V: float, W: float, eta: float,
                  chunk: int = 64, profile: str = "area") -> torch.Tensor:
    """Exact reference: Σ_k I_k pV(2θ − 2θ_k; H(2θ_k)) at every output angle, float64 [B, M], with the
    unit-area (``profile="area"``) or unit-height (``"height"``, paper A.2) pseudo-Voigt.

    two_theta: [M] output angles (degrees); positions, intensities: [B, R] (degrees, arbitrary units).
    Evaluated densely in chunks of ``chunk`` peaks (memory B·chunk·M); slow, for validation only.
    """
    shape = {"area": pseudo_voigt, "height": pseudo_voigt_height}[profile]
    x = torch.as_tensor(np.asarray(two_theta), dtype=torch.float64)
    pos = torch.as_tensor(positions).detach().to(torch.float64).cpu()
    inten = torch.as_tensor(intensities).detach().to(torch.float64).cpu()
    out = torch.zeros(pos.shape[0], x.shape[0], dtype=torch.float64)
    for start in range(0, pos.shape[1], chunk):
        p = pos[:, start:start + chunk, None]
        h = caglioti_fwhm(p, U, V, W)
        out += (inten[:, start:start + chunk, None] * shape(x - p, h, eta)).sum(1)
    return out


def _fast_fft_length(n: int) -> int:
    """Smallest length ≥ n of the form 2^a·m, m in {1, 3, 5, 9, 15} (pocketfft is fastest on these)."""
    best = None
    for m in (1, 3, 5, 9, 15):
        length = m
        while length < n:
            length *= 2
        best = length if best is None else min(best, length)
    return best


class WarpedBroadener:
    """Fast pseudo-Voigt broadening on a width-warped axis (see module docstring).

    Parameters: ``two_theta`` output angles [M] (degrees, ascending), Caglioti U, V, W (deg²), η,
    ``max_peak_two_theta`` the largest peak position that must be representable (degrees),
    ``points_per_fwhm`` grid density (1/h), ``pad_fwhm`` extra FFT length in FWHMs against wrap-around,
    ``block`` outputs per read-back block (the read-back is a batched matmul of small dense blocks).
    Call with positions [B, R] (degrees) and intensities [B, R] → profile [B, M] (1/degree) in ``dtype``;
    ``normalise=True`` divides each row by its maximum. Differentiable in positions and intensities
    (hand-written backward, :class:`_WarpedProfile`).
    """

    TABLE_STEP = 1e-3  # degrees; linear interpolation of u(2θ) on this table errs by < 1e-8 FWHM

    def __init__(self, two_theta, U: float, V: float, W: float, eta: float, max_peak_two_theta: float,
                 points_per_fwhm: float = 8.0, pad_fwhm: float = 40.0, block: int | None = None,
                 dtype=torch.float32, device="cpu"):
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
        self.dtype, self.device = dtype, torch.device(device)
        dev = self.device

        # grid coordinate t(2θ) = (u − u_lo)/h: table + slope for linear interpolation of peak positions
        t_tab = (u_tab - self.u_lo) / self.h
        slope = np.diff(t_tab, append=t_tab[-1]) / self.TABLE_STEP
        self._t_table = torch.tensor(np.stack([t_tab, slope], 1), dtype=dtype, device=dev)  # [n_tab, 2]
        self._n_tab = n_tab

        # kernel: unit-FWHM pseudo-Voigt at circular distances, prefiltered by the squared B-spline
        # symbol; real and even, so its transform is real and the convolution is self-adjoint. Pairs of
        # nodes further apart than L/2 see each other's tail at the wrapped distance ≥ L − N ≥ pad FWHMs.
        self.fft_len = _fast_fft_length(self.n_nodes + int(math.ceil(float(pad_fwhm) / self.h)))
        m = np.arange(self.fft_len)
        khat = np.fft.rfft(pseudo_voigt(np.minimum(m, self.fft_len - m) * self.h, 1.0, eta)).real
        omega = 2.0 * math.pi * np.arange(khat.shape[0]) / self.fft_len
        khat = khat / (2.0 / 3.0 + np.cos(omega) / 3.0) ** 2
        self._khat = torch.tensor(khat, dtype=dtype, device=dev)

        # read-back: cubic B-spline weights at the fixed output angles, times 1/H (density per degree),
        # packed as dense blocks: out[block b] = R[b]ᵀ · conv[start_b : start_b + width]
        t_out = np.interp(x_out, xt, t_tab)
        j = np.floor(t_out).astype(np.int64)
        w = _bspline_weights_np(t_out - j) / caglioti_fwhm(x_out, U, V, W)  # [4, M]
        self.n_out = m_out = x_out.shape[0]
        block = block or _block_size(m_out)
        nb = -(-m_out // block)
        first = j[np.minimum(np.arange(nb) * block, m_out - 1)] - 1
        last = j[np.minimum(np.arange(nb) * block + block - 1, m_out - 1)] + 2
        width = int((last - first).max()) + 1
        start = np.minimum(first, self.fft_len - width)
        rmat = np.zeros((nb, width, block))
        for q in range(4):
            i = np.arange(m_out)
            rmat[i // block, j - 1 + q - start[i // block], i % block] = w[q]
        self._rb_index = torch.tensor((start[:, None] + np.arange(width)).reshape(-1), device=dev)
        self._rb_mat = torch.tensor(rmat, dtype=dtype, device=dev)  # [nb, width, block]
        self._bspline = torch.tensor(BSPLINE, dtype=dtype, device=dev)
        self._bspline_d = torch.tensor(BSPLINE_D, dtype=dtype, device=dev)
        self._taps = torch.arange(-1, 3, device=dev)
        self._block = block

    def grid_coordinate(self, positions: torch.Tensor):
        """Grid coordinate t = (u(2θ) − u_lo)/h of peak positions (degrees), clamped to the grid, and
        dt/d(2θ) (0 where clamped)."""
        s = (positions.detach().to(self.dtype) * (1.0 / self.TABLE_STEP)).clamp_(0.0, self._n_tab - 2)
        i = s.long()  # s ≥ 0: truncation is floor
        ts = self._t_table.index_select(0, i.view(-1)).view(*i.shape, 2)  # (t, dt/d2θ) at the node
        slope = ts[..., 1]
        t = (ts[..., 0] + (s - i) * (slope * self.TABLE_STEP)).clamp_(1.0, self.n_nodes - 3.0)
        inside = (t > 1.0) & (t < self.n_nodes - 3.0)
        return t, slope * inside

    def __call__(self, positions: torch.Tensor, intensities: torch.Tensor, normalise: bool = False):
        return _WarpedProfile.apply(positions, intensities.to(self.dtype), self, normalise)

    # linear pieces shared by forward and backward
    def _convolve(self, grid: torch.Tensor) -> torch.Tensor:
        return torch.fft.irfft(torch.fft.rfft(grid) * self._khat, n=self.fft_len)

    def _read_back(self, conv: torch.Tensor) -> torch.Tensor:
        """conv [B, L] → un-normalised profile as blocks [nb, B, block] (pad outputs are 0)."""
        b = conv.shape[0]
        nb, width, _ = self._rb_mat.shape
        windows = conv.index_select(1, self._rb_index).view(b, nb, width).transpose(0, 1)
        return torch.bmm(windows, self._rb_mat)

    def _read_back_adjoint(self, grad: torch.Tensor) -> torch.Tensor:
        """grad [B, nb·block] (contiguous) → gradient w.r.t. conv [B, L]."""
        b = grad.shape[0]
        nb, width, block = self._rb_mat.shape
        gw = torch.bmm(self._rb_mat, grad.view(b, nb, block).permute(1, 2, 0))  # [nb, width, B]
        gconv = grad.new_zeros(self.fft_len, b).index_add_(0, self._rb_index, gw.view(nb * width, b))
        return gconv.t().contiguous()


def _block_size(m: int) -> int:
    """Outputs per read-back block: a divisor of m near 32 (no padding), else 32."""
    divisors = [k for k in range(16, 65) if m % k == 0]
    return min(divisors, key=lambda k: abs(k - 32)) if divisors else 32


def _row_argmax(x: torch.Tensor) -> torch.Tensor:
    """argmax over dim 1 of a contiguous x [B, M], via maxima of contiguous chunks (amax over long
    contiguous runs is ~10x faster than argmax on CPU)."""
    b, m = x.shape
    chunk = next((k for k in range(100, 400) if m % k == 0), None)
    if chunk is None or m // chunk < 4:
        return x.argmax(1)
    xc = x.view(b, -1, chunk)
    j = xc.amax(2).argmax(1)  # chunk holding the maximum
    return j * chunk + xc.gather(1, j.view(b, 1, 1).expand(b, 1, chunk)).view(b, chunk).argmax(1)


class _WarpedProfile(torch.autograd.Function):
    """Deposit → convolve → read back (→ normalise), with a hand-written backward (autograd would store
    and replay every [B, M] intermediate)."""

    @staticmethod
    def forward(ctx, positions, intensities, br: WarpedBroadener, normalise: bool):
        b = positions.shape[0]
        nb, _, block = br._rb_mat.shape
        t, dtdx = br.grid_coordinate(positions)
        j = t.long()  # t ≥ 1: truncation is floor
        f = t - j
        powers = torch.stack([torch.ones_like(f), f, f * f, f * f * f], -1)  # [B, R, 4]
        w = powers @ br._bspline  # cubic B-spline weights of nodes j−1 … j+2
        idx = (j[..., None] + br._taps).view(b, -1)
        grid = torch.zeros(b, br.fft_len, dtype=br.dtype, device=br.device)
        grid.scatter_add_(1, idx, (w * intensities[..., None]).view(b, -1))
        blocks = br._read_back(br._convolve(grid))  # [nb, B, block]
        out = blocks.transpose(0, 1).reshape(b, nb * block)  # [B, M] (one copy)
        inv = None
        if normalise:
            inv = 1.0 / out.amax(1).clamp_min(1e-30)  # an empty pattern stays 0
            out.mul_(inv[:, None])
        ctx.br, ctx.normalise, ctx.pos_dtype = br, normalise, positions.dtype
        ctx.save_for_backward(idx, powers, w, intensities * dtdx, out if normalise else None, inv)
        return out if out.shape[1] == br.n_out else out[:, : br.n_out]

    @staticmethod
    def backward(ctx, grad_out):
        idx, powers, w, i_dtdx, out, inv = ctx.saved_tensors
        br = ctx.br
        b = grad_out.shape[0]
        nb, _, block = br._rb_mat.shape
        grad = grad_out.to(br.dtype)
        if grad.shape[1] != nb * block:
            grad = torch.cat([grad, grad.new_zeros(b, nb * block - grad.shape[1])], 1)
        if ctx.normalise:  # out = p / max(p): dL/dp = g/peak − (Σ g·out)/peak at the argmax
            corr = torch.linalg.vecdot(grad, out) * inv
            grad = grad * inv[:, None]
            flat = torch.arange(b, device=br.device) * grad.shape[1] + _row_argmax(out)
            grad.view(-1).index_add_(0, flat, -corr)
        else:
            grad = grad.contiguous()
        ggrid = br._convolve(br._read_back_adjoint(grad))
        gw = ggrid.gather(1, idx).view(b, -1, 4)
        grad_i = grad_t = None
        if ctx.needs_input_grad[1]:
            grad_i = torch.linalg.vecdot(gw, w)
        if ctx.needs_input_grad[0]:  # d/df of the weights: (0, 1, 2f, 3f²)·C = (1, f, f²)·C′
            grad_t = torch.linalg.vecdot(gw, powers[..., :3] @ br._bspline_d) * i_dtdx
            grad_t = grad_t.to(ctx.pos_dtype)
        return grad_t, grad_i, None, None


# Cubic B-spline weights of nodes j−1, j, j+1, j+2 for a point at j + f, f in [0, 1), as (1, f, f², f³)·C:
# ((1−f)³, 3f³ − 6f² + 4, −3f³ + 3f² + 3f + 1, f³)/6; and their derivative as (1, f, f²)·C′.
BSPLINE = np.array([[1.0, 4.0, 1.0, 0.0], [-3.0, 0.0, 3.0, 0.0], [3.0, -6.0, 3.0, 0.0], [-1.0, 3.0, -3.0, 1.0]]) / 6
BSPLINE_D = np.array([[-3.0, 0.0, 3.0, 0.0], [6.0, -12.0, 6.0, 0.0], [-3.0, 9.0, -9.0, 3.0]]) / 6


def _bspline_weights_np(f: np.ndarray) -> np.ndarray:
    """Cubic B-spline weights, nodes along axis 0: [4, ...]."""
    f = np.asarray(f, dtype=np.float64)
    return np.moveaxis(np.stack([np.ones_like(f), f, f * f, f * f * f], -1) @ BSPLINE, -1, 0)
