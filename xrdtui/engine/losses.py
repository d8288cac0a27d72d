"""Pattern losses and similarities: the single home of their formulas, and a registry for plug-ins.

Each loss maps pred [B, M] and target [M] or [B, M] (intensities on the same 2-theta grid, arbitrary
units, non-negative) to per-member values [B]; lower is better. ``similarity(name, pred, target)``
gives the matching similarity [B]; higher is better.

Built-in losses (x = target, x^ = pred, sums over the M grid points):
- "cosine": L = -cos(x^, x) = -<x^, x> / (|x^| |x|); similarity cos(x^, x) in [-1, 1] (in [0, 1] for
  non-negative patterns). Norms are clamped at 1e-12 so an all-zero pattern gives L = 0 with finite grads.
- "mse": L = ||x^ - x||^2 = sum over the M bins of (x^ - x)^2 (the paper's L_MSE per member: a squared
  norm, not a mean over bins; 9000x the mean on the paper's grid, which matters for plain gradient
  descent's step sizes), in squared intensity units; similarity = -mse (higher is better, 0 identical).
- "entropy": negative spectral-entropy similarity. With p = x / sum x and q = x^ / sum x^
  (each pattern sum-normalised after setting negatives and bins below 1e-20 of its max to 0) and
  S(p) = -sum p ln p (nats),
  similarity = 1 - (2 S((p + q)/2) - S(p) - S(q)) / ln 4, in [0, 1] (1 identical, 0 disjoint support;
  the bracket is twice the Jensen-Shannon divergence); L = -similarity. ln p is evaluated as
  ln(max(p, tiny)) so that 0 ln 0 = 0 and the gradient stays finite at empty bins.
- "xcorr" (beyond the paper): the weighted cross-correlation similarity of de Gelder, Wehrens & Hageman
  (J. Comput. Chem. 22, 273, 2001), as PyXtal's ``Similarity``:
  S = ∫ w(r) c_fg(r) dr / sqrt(∫ w c_ff dr · ∫ w c_gg dr),  c_fg(r) = ∫ f(x) g(x + r) dx,
  with the triangle weight w(r) = max(0, 1 − |r|/ℓ), ℓ = 2° (200 bins of the 0.01° grid). Since
  Σ_r w(r) c_fg(r) = <f, T g> with T the convolution by the (even) triangle, whose transform sinc² is ≥ 0,
  S is the cosine of f and g in the inner product <·, T ·>: S = 1 for identical patterns, and unlike the
  cosine it stays informative (decreases smoothly) while peaks are shifted by less than ℓ without
  overlapping. L = −S. Computed with one FFT convolution per pattern.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch

from xrdtui.errors import ConfigError

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

_NORM_EPS = 1e-12  # clamp for norms and sums: keeps all-zero patterns finite


def _pair(pred: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Check shapes of pred [B, M] and target [M] or [B, M]; returns target as [1, M] or [B, M] (cast to
    pred's dtype), left to broadcast so per-target work is not repeated B times."""
    if pred.ndim != 2:
        raise ValueError(f"pred must have shape [B, M], got {tuple(pred.shape)}")
    target = torch.as_tensor(target, dtype=pred.dtype, device=pred.device)
    if target.ndim == 1:
        target = target.unsqueeze(0)
    if target.ndim != 2 or target.shape[-1] != pred.shape[-1] or target.shape[0] not in (1, pred.shape[0]):
        raise ValueError(f"target shape {tuple(target.shape)} does not fit pred shape {tuple(pred.shape)}")
    return pred, target


def cosine_similarity(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """cos(x^, x) = <x^, x> / (|x^| |x|) per member [B]; norms clamped at 1e-12."""
    pred, target = _pair(pred, target)
    dot = (pred * target).sum(-1)
    sq = (pred * pred).sum(-1).clamp_min(_NORM_EPS**2) * (target * target).sum(-1).clamp_min(_NORM_EPS**2)
    return dot / torch.sqrt(sq)


def cosine_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Negative cosine similarity, -cos(x^, x), per member [B]; -1 for identical patterns."""
    return -cosine_similarity(pred, target)


def mse_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Squared error ||x^ - x||^2 = sum (x^ - x)^2 over the bins, per member [B] (squared intensity units)."""
    pred, target = _pair(pred, target)
    return ((pred - target) ** 2).sum(-1)


def mse_similarity(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """-mse per member [B]: 0 for identical patterns, negative otherwise."""
    return -mse_loss(pred, target)


def spectral_entropy(p: torch.Tensor) -> torch.Tensor:
    """S(p) = -sum p ln p over the last axis (nats), with ln p -> ln(max(p, tiny)) so 0 ln 0 = 0."""
    tiny = torch.finfo(p.dtype).tiny
    return -(p * torch.log(p.clamp_min(tiny))).sum(-1)


_ENTROPY_FLOOR = 1e-20  # relative intensity below which a bin counts as empty


def _sum_normalise(x: torch.Tensor) -> torch.Tensor:
    """x / sum(x) after clipping negatives (numerical ringing) and bins below 1e-20 of the pattern's max
    to 0. The floor changes the entropy by < 1e-17 but keeps subnormal floats (tails that underflow in
    float32), which are ~10x slower on CPUs, out of the products and logs."""
    keep = x > x.detach().amax(-1, keepdim=True) * _ENTROPY_FLOOR
    x = torch.where(keep, x, torch.zeros((), dtype=x.dtype, device=x.device))
    return x / x.sum(-1, keepdim=True).clamp_min(_NORM_EPS)


def entropy_similarity(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Spectral-entropy similarity 1 - (2 S((p+q)/2) - S(p) - S(q)) / ln 4 per member [B], in [0, 1]."""
    pred, target = _pair(pred, target)
    q, p = _sum_normalise(pred), _sum_normalise(target)
    bracket = 2.0 * spectral_entropy(0.5 * (p + q)) - spectral_entropy(p) - spectral_entropy(q)
    return 1.0 - bracket / math.log(4.0)


def entropy_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Negative spectral-entropy similarity per member [B]; -1 for identical patterns, 0 for disjoint."""
    return -entropy_similarity(pred, target)


XCORR_WINDOW_BINS = 200  # ℓ = 2° on the 0.01° grid (PyXtal's Similarity default l = 2.0)


def _triangle_smooth(x: torch.Tensor, half_width: int) -> torch.Tensor:
    """(T x)[i] = Σ_r max(0, 1 − |r|/ℓ) x[i + r] for |r| < ℓ (ℓ = half_width bins, zero outside the grid),
    by an FFT convolution padded so nothing wraps."""
    m = x.shape[-1]
    n = 1 << int(math.ceil(math.log2(m + 2 * half_width + 1)))
    r = torch.arange(n, dtype=x.dtype, device=x.device)
    dist = torch.minimum(r, n - r)  # circular lag
    kernel = (1.0 - dist / half_width).clamp_min(0.0)
    spec = torch.fft.rfft(x, n=n) * torch.fft.rfft(kernel)
    return torch.fft.irfft(spec, n=n)[..., :m]


def xcorr_similarity(pred: torch.Tensor, target: torch.Tensor, half_width: int = XCORR_WINDOW_BINS) -> torch.Tensor:
    """de Gelder's weighted cross-correlation S(x^, x) per member [B], triangle weight of ``half_width`` bins."""
    pred, target = _pair(pred, target)
    t_pred, t_target = _triangle_smooth(pred, half_width), _triangle_smooth(target, half_width)
    num = (pred * t_target).sum(-1)
    den = (pred * t_pred).sum(-1).clamp_min(_NORM_EPS**2) * (target * t_target).sum(-1).clamp_min(_NORM_EPS**2)
    return num / torch.sqrt(den)


def xcorr_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Negative weighted cross-correlation similarity per member [B]; -1 for identical patterns."""
    return -xcorr_similarity(pred, target)


@dataclass(frozen=True)
class LossSpec:
    """A named loss (lower is better) and its similarity (higher is better); calling it is the loss."""

    name: str
    loss: LossFn
    similarity: LossFn
    description: str = ""

    def __call__(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.loss(pred, target)


LOSSES: dict[str, LossSpec] = {}


def register_loss(name: str, fn: LossFn, similarity_fn: LossFn | None = None, description: str = "",
                  *, replace: bool = False) -> LossSpec:
    """Add a loss to the registry. Without ``similarity_fn`` the similarity is -loss."""
    if not name or not name.replace("-", "").replace("_", "").isalnum():
        raise ConfigError(f"loss name must be a non-empty identifier, got {name!r}")
    if name in LOSSES and not replace:
        raise ConfigError(f"loss {name!r} is already registered")
    if similarity_fn is None:
        def similarity_fn(pred, target, _fn=fn):
            return -_fn(pred, target)
    spec = LossSpec(name, fn, similarity_fn, description or (fn.__doc__ or "").strip().split("\n")[0])
    LOSSES[name] = spec
    return spec


def get_loss(name: str) -> LossSpec:
    """The registered loss ``name`` (a callable LossSpec); ConfigError when unknown."""
    try:
        return LOSSES[name]
    except KeyError:
        raise ConfigError(f"unknown loss {name!r}; known: {', '.join(LOSSES)}") from None


def similarity(name: str, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The similarity [B] that belongs to loss ``name`` (cosine: cos; mse: -mse; entropy: entropy similarity)."""
    return get_loss(name).similarity(pred, target)


register_loss("cosine", cosine_loss, cosine_similarity, "negative cosine similarity")
register_loss("mse", mse_loss, mse_similarity, "squared error summed over the bins")
register_loss("entropy", entropy_loss, entropy_similarity, "negative spectral-entropy similarity")
register_loss("xcorr", xcorr_loss, xcorr_similarity, "negative weighted cross-correlation (de Gelder 2001)")
