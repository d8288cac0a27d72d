"""Differentiable unit-cell geometry (torch), with numpy twins.

Lattice parameters are ``[..., 6] = (a, b, c, alpha, beta, gamma)``: lengths in ångström, angles in
degrees (alpha between b and c, beta between a and c, gamma between a and b). Every function works on
any leading batch shape and is differentiable by autograd; the dtype follows the input.
"""

from __future__ import annotations

import math

import numpy as np
import torch

_DEG = math.pi / 180.0


def metric_tensor(params: torch.Tensor) -> torch.Tensor:
    """Real-space metric tensor G [..., 3, 3] in Å².

    G_ij = a_i · a_j = |a_i| |a_j| cos(angle_ij), i.e.
    G = [[a², ab cosγ, ac cosβ], [ab cosγ, b², bc cosα], [ac cosβ, bc cosα, c²]].
    """
    a, b, c = params[..., :3].unbind(-1)
    ca, cb, cg = torch.cos(params[..., 3:] * _DEG).unbind(-1)
    row0 = torch.stack([a * a, a * b * cg, a * c * cb], -1)
    row1 = torch.stack([a * b * cg, b * b, b * c * ca], -1)
    row2 = torch.stack([a * c * cb, b * c * ca, c * c], -1)
    return torch.stack([row0, row1, row2], -2)


def volume_factor(params: torch.Tensor) -> torch.Tensor:
    """Dimensionless V/(abc) squared: 1 − cos²α − cos²β − cos²γ + 2 cosα cosβ cosγ (≤ 0: no cell)."""
    ca, cb, cg = torch.cos(params[..., 3:] * _DEG).unbind(-1)
    return 1.0 - ca * ca - cb * cb - cg * cg + 2.0 * ca * cb * cg


def volume(params: torch.Tensor) -> torch.Tensor:
    """Cell volume in Å³: V = abc · sqrt(1 − cos²α − cos²β − cos²γ + 2 cosα cosβ cosγ) = sqrt(det G)."""
    a, b, c = params[..., :3].unbind(-1)
    return a * b * c * torch.sqrt(volume_factor(params))


def reciprocal_metric6(params: torch.Tensor) -> torch.Tensor:
    """The six independent components [..., 6] = (G*₁₁, G*₂₂, G*₃₃, G*₁₂, G*₂₃, G*₁₃) of the reciprocal
    metric, in Å⁻², in closed form (few kernels: this sits in every optimisation step).

    With D = 1 − cos²α − cos²β − cos²γ + 2 cosα cosβ cosγ = (V/abc)²:
    G*₁₁ = sin²α/(a²D), G*₂₂ = sin²β/(b²D), G*₃₃ = sin²γ/(c²D),
    G*₁₂ = (cosα cosβ − cosγ)/(abD), G*₂₃ = (cosβ cosγ − cosα)/(bcD), G*₁₃ = (cosγ cosα − cosβ)/(caD).
    So 1/d² = G*₁₁h² + G*₂₂k² + G*₃₃l² + 2G*₁₂hk + 2G*₂₃kl + 2G*₁₃hl.
    """
    lengths = params[..., :3]
    c = torch.cos(params[..., 3:] * _DEG)
    c1, c2 = c.roll(-1, -1), c.roll(-2, -1)  # (cosβ, cosγ, cosα), (cosγ, cosα, cosβ)
    cc = c * c1
    d = 1.0 - (c * c).sum(-1, keepdim=True) + 2.0 * cc[..., :1] * c[..., 2:]
    diag = (1.0 - c * c) / (lengths * lengths)
    off = (cc - c2) / (lengths * lengths.roll(-1, -1))
    return torch.cat([diag, off], -1) / d


_EYE3, _ROWS, _NEXT, _THIRD = np.eye(3), np.arange(3), np.array([1, 2, 0]), np.array([2, 0, 1])


def reciprocal_metric6_np(params, jacobian: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
    """numpy (float64) :func:`reciprocal_metric6` [..., 6] and its Jacobian d g6 / d params [..., 6, 6]
    (Å⁻² per Å for lengths, per degree for angles; None when ``jacobian`` is False), from the same closed form:
    ∂D/∂c_m = −2c_m + 2Π_{n≠m}c_n;  ∂diag_i/∂L_i = −2 diag_i/L_i;
    ∂diag_i/∂c_m = −2c_i δ_im/(L_i²D) − diag_i ∂D/∂c_m / D;  ∂off_ij/∂L_i = −off_ij/L_i;
    ∂off_ij/∂c_m = (c_j δ_mi + c_i δ_mj − δ_mk)/(L_i L_j D) − off_ij ∂D/∂c_m / D;  ∂c_m/∂angle_m = −sin·π/180.
    """
    p = np.asarray(params, dtype=np.float64)
    lengths = p[..., :3]
    ang = np.radians(p[..., 3:])
    c, sn = np.cos(ang), np.sin(ang)
    c1, c2 = c[..., _NEXT], c[..., _THIRD]  # np.roll by -1 and -2, as index arrays (cheaper per call)
    d = 1.0 - (c * c).sum(-1) + 2.0 * c[..., 0] * c[..., 1] * c[..., 2]
    dd_dc = -2.0 * c + 2.0 * c1 * c2  # product of the two other cosines
    l2 = lengths * lengths
    l_pair = lengths * lengths[..., _NEXT]
    diag = (1.0 - c * c) / (l2 * d[..., None])
    off = (c * c1 - c2) / (l_pair * d[..., None])
    g6 = np.concatenate([diag, off], -1)
    if not jacobian:
        return g6, None
    # The Jacobian's blocks at once, rows i (off-diagonal pair (i, j), third angle k) by columns m: each
    # entry is computed with the same operations in the same order as written above (one numpy call per
    # operation instead of ~100 on [B] slices).
    jac = np.zeros(p.shape[:-1] + (6, 6))
    eye, rows, nxt, third = _EYE3, _ROWS, _NEXT, _THIRD
    jac[..., rows, rows] = -2.0 * diag / lengths
    jac[..., 3 + rows, rows] = -off / lengths
    jac[..., 3 + rows, nxt] = -off / lengths[..., nxt]
    dd = d[..., None, None]
    ddiag = -2.0 * c[..., :, None] * eye / (l2[..., :, None] * dd) - diag[..., :, None] * dd_dc[..., None, :] / dd
    dnum = c[..., nxt, None] * eye + c[..., :, None] * eye[nxt] - eye[third]  # eye[m, i], eye[m, j], eye[m, k]
    doff = dnum / (l_pair[..., :, None] * dd) - off[..., :, None] * dd_dc[..., None, :] / dd
    dc = (-sn * (math.pi / 180.0))[..., None, :]
    jac[..., :3, 3:] = ddiag * dc
    jac[..., 3:, 3:] = doff * dc
    return g6, jac


class _ReciprocalMetric6(torch.autograd.Function):
    """:func:`reciprocal_metric6` for CPU tensors, computed in numpy with the analytic Jacobian: a few µs
    instead of ~40 small autograd kernels in every optimisation step."""

    @staticmethod
    def forward(ctx, params):
        g6, jac = reciprocal_metric6_np(params.detach().numpy())
        ctx.save_for_backward(torch.from_numpy(jac).to(params.dtype))
        return torch.from_numpy(g6).to(params.dtype)

    @staticmethod
    def backward(ctx, grad):
        (jac,) = ctx.saved_tensors
        return torch.matmul(grad.unsqueeze(-2), jac).squeeze(-2)


def reciprocal_metric6_fast(params: torch.Tensor) -> torch.Tensor:
    """Same values as :func:`reciprocal_metric6`; numpy with an analytic backward on CPU."""
    if params.device.type == "cpu":
        return _ReciprocalMetric6.apply(params)
    return reciprocal_metric6(params)


def reciprocal_metric(params: torch.Tensor) -> torch.Tensor:
    """Reciprocal metric G* = G⁻¹ [..., 3, 3] in Å⁻² (crystallographic convention, no 2π): for Miller
    indices h, 1/d_hkl² = hᵀ G* h. Assembled from :func:`reciprocal_metric6`."""
    g = reciprocal_metric6(params)
    idx = torch.tensor([0, 3, 5, 3, 1, 4, 5, 4, 2], device=g.device)
    return g.index_select(-1, idx).reshape(*g.shape[:-1], 3, 3)


def lattice_matrix(params: torch.Tensor) -> torch.Tensor:
    """Cell vectors as rows [..., 3, 3] in Å, in pymatgen's ``Lattice.from_parameters`` orientation.

    c ∥ z; a in the xz-plane: a = (a sinβ, 0, a cosβ); b = (−b sinα cosγ*, b sinα sinγ*, b cosα);
    c = (0, 0, c), with cosγ* = (cosα cosβ − cosγ)/(sinα sinβ).
    """
    a, b, c = params[..., :3].unbind(-1)
    ang = params[..., 3:] * _DEG
    ca, cb, cg = torch.cos(ang).unbind(-1)
    sa, sb, _ = torch.sin(ang).unbind(-1)
    cos_gs = ((ca * cb - cg) / (sa * sb)).clamp(-1.0, 1.0)
    sin_gs = torch.sqrt((1.0 - cos_gs * cos_gs).clamp_min(0.0))
    zero = torch.zeros_like(a)
    va = torch.stack([a * sb, zero, a * cb], -1)
    vb = torch.stack([-b * sa * cos_gs, b * sa * sin_gs, b * ca], -1)
    vc = torch.stack([zero, zero, c], -1)
    return torch.stack([va, vb, vc], -2)


def params_from_matrix(matrix: torch.Tensor) -> torch.Tensor:
    """Lattice parameters [..., 6] (Å, degrees) of row-vector cell matrices [..., 3, 3]."""
    lengths = torch.linalg.vector_norm(matrix, dim=-1)
    va, vb, vc = matrix.unbind(-2)
    la, lb, lc = lengths.unbind(-1)

    def angle(u, v, lu, lv):
        cos = ((u * v).sum(-1) / (lu * lv)).clamp(-1.0, 1.0)
        return torch.rad2deg(torch.acos(cos))

    angles = torch.stack([angle(vb, vc, lb, lc), angle(va, vc, la, lc), angle(va, vb, la, lb)], -1)
    return torch.cat([lengths, angles], -1)


# numpy twins (float64), for code that does not want torch tensors


def metric_tensor_np(params) -> np.ndarray:
    """numpy twin of :func:`metric_tensor`."""
    return metric_tensor(torch.tensor(np.asarray(params, dtype=np.float64))).numpy()


def reciprocal_metric_np(params) -> np.ndarray:
    """numpy twin of :func:`reciprocal_metric`."""
    return reciprocal_metric(torch.tensor(np.asarray(params, dtype=np.float64))).numpy()


def volume_np(params) -> np.ndarray:
    """numpy twin of :func:`volume`."""
    return volume(torch.tensor(np.asarray(params, dtype=np.float64))).numpy()


def lattice_matrix_np(params) -> np.ndarray:
    """numpy twin of :func:`lattice_matrix`."""
    return lattice_matrix(torch.tensor(np.asarray(params, dtype=np.float64))).numpy()


def params_from_matrix_np(matrix) -> np.ndarray:
    """numpy twin of :func:`params_from_matrix`."""
    return params_from_matrix(torch.tensor(np.asarray(matrix, dtype=np.float64))).numpy()
