"""Fast, batched, differentiable powder-XRD patterns (the paper's appendix A.2).

For a template structure (conventional standard cell) the reflections are enumerated once; each call
then computes, for a batch of B cells (lattice parameters and optionally fractional coordinates):

* 1/d² = hᵀ G* h from the reciprocal metric (lattice.py), s = sinθ/λ = 1/(2d), Bragg angle
  θ = asin(λ/(2d));
* occupancy-weighted structure factor F(hkl) = Σ_j occ_j f_j(s) exp(2πi h·r_j), f from scattering.py;
* integrated intensity I = m · |F|² · LP(θ) with Lorentz–polarisation LP = (1 + cos²2θ)/(sin²θ cosθ)
  and m = 2: only one reflection of each Friedel pair (hkl, −h−k−l: same angle, same |F|²) is kept;
* a pseudo-Voigt profile with Caglioti widths on the output grid (profile.py), by default the paper's A.2
  form in which each peak's *height* is its intensity (``PatternSettings.profile = "height"``; "area" gives
  unit-area peaks), normalised so that each pattern has maximum 1.

Reflection set and margins (documented approximation):

* Strain margin X (``strain_margin``, default 0.5): enumerated are all hkl whose template spacing
  satisfies 1/d₀ ≤ (1 + X)·g_cut, where g_cut = 2 sin(θ_cut)/λ. The set is therefore complete for any
  cell whose d-spacings grow by at most the factor (1 + X) relative to the template (any shrinkage is
  fine). :meth:`XRDSimulator.outside_margin` reports cells beyond that. The study's lattice noise
  S = I + U(−σ, σ)^{3×3} at σ = 0.1 stretches d-spacings of the benchmark cells by up to 34 %
  (Na3MnCoNiO6: strain mixing a long axis into a short one; ≤ 27 % for the others, ≤ 15 % at σ = 0.05).
  The margin costs only enumeration: each call evaluates just the reflections that are in range for at
  least one member of the batch.
* Angular cut: by default (``tail_full = tail_zero = 0``) the pattern sums the reflections with
  2θ ≤ 2θ_max = 90° only, as the paper's A.2 does ("all Bragg reflections over 2θ ∈ [0°, 90°]", like
  pymatgen's ``two_theta_range``): a peak that crosses 90° leaves the pattern, tail and all, at once. The
  option ``tail_zero > 0`` keeps the tails of peaks just beyond the range instead: full weight up to
  2θ_max + ``tail_full``, a cosine taper (C¹) to zero at 2θ_max + ``tail_zero`` = 2θ_cut (e.g. 2° and 4°),
  so a peak crossing 90° never makes the pattern jump. Peaks beyond 2θ_cut, or with sinθ > 1, have weight
  exactly zero (masked with ``torch.where``, gradients stay finite).
* The exact dense reference (:func:`xrdtui.engine.profile.dense_profile`) uses the same peaks.

No Debye–Waller factor, no anomalous dispersion (like pymatgen's XRDCalculator without options).
Dtypes: geometry (1/d², 2θ) runs in the dtype of the lattice tensor you pass (float64 is fine);
structure factors, LP, intensities and the profile in ``profile_dtype`` (float32 by default; float64
for gradcheck). Numerics of the profile (``points_per_fwhm`` = 8, ``pad_fwhm`` = 40): relative L2 error
against the exact dense sum ≤ 7e-4 on distorted benchmark cells (≤ 3e-4 with points_per_fwhm = 10).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from functools import lru_cache

import numpy as np
import torch

from xrdtui.engine import lattice as lat
from xrdtui.engine import resources
from xrdtui.engine.profile import WarpedBroadener, caglioti_fwhm, height_as_area
from xrdtui.engine.scattering import FormFactorTable, scattering_params
from xrdtui.errors import ConfigError, InputError
from xrdtui.vocab import PROFILES, Profile, check_choice


@dataclass(frozen=True)
class PatternSettings:
    """Physical settings of a simulated pattern.

    wavelength (Å, default Cu Kα1); output grid two_theta[i] = two_theta_min + i·step (degrees), i < M,
    M = round((two_theta_max − two_theta_min)/step); Caglioti U, V, W (deg²) for the FWHM
    H² = U tan²θ + V tanθ + W; pseudo-Voigt Gaussian fraction eta; tail_full / tail_zero (degrees beyond
    two_theta_max) where the weight of out-of-range peaks starts to fall / reaches zero; profile "height"
    (paper A.2: G and L of unit height, each peak's height is its intensity) or "area" (unit-area G and L).
    The paper's 2θ = 0-90° in 0.01° bins is read as the 9000 points 0.00, 0.01, ..., 89.99°.
    """

    wavelength: float = 1.5406
    two_theta_min: float = 0.0
    two_theta_max: float = 90.0
    step: float = 0.01
    U: float = 0.1
    V: float = 0.01
    W: float = 0.1
    eta: float = 0.1
    tail_full: float = 0.0
    tail_zero: float = 0.0
    profile: str = "height"

    @property
    def n_points(self) -> int:
        return int(round((self.two_theta_max - self.two_theta_min) / self.step))

    @property
    def two_theta(self) -> np.ndarray:
        """Output angles [M] (degrees)."""
        return self.two_theta_min + np.arange(self.n_points) * self.step

    @property
    def two_theta_cut(self) -> float:
        """Largest peak position with non-zero weight (degrees)."""
        return self.two_theta_max + self.tail_zero

    def validate(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, str):
                continue
            if not math.isfinite(value):
                raise ConfigError(f"pattern setting {f.name} must be finite, got {value}")
        if self.wavelength <= 0 or self.step <= 0:
            raise ConfigError("wavelength and step must be positive")
        if not 0 <= self.two_theta_min < self.two_theta_max:
            raise ConfigError("need 0 <= two_theta_min < two_theta_max")
        if not 0 <= self.tail_full <= self.tail_zero or self.two_theta_cut >= 178.0:
            raise ConfigError("need 0 <= tail_full <= tail_zero and two_theta_max + tail_zero < 178")
        if not 0 <= self.eta <= 1:
            raise ConfigError(f"eta must be in [0, 1], got {self.eta}")
        check_choice(self.profile, PROFILES, "peak profile")

    @property
    def broadener_eta(self) -> float:
        """The Gaussian share the (unit-area) broadener uses: eta itself for "area", the area share η_A of
        the unit-height pseudo-Voigt for "height" (profile.height_as_area)."""
        return self.eta if self.profile == Profile.AREA else height_as_area(self.eta)[1]


def _persistent():
    """The autograd mode for tensors a simulator keeps between calls (tables, kernels, template data):
    normal tensors (not inference tensors) without history, whatever mode the caller is in. A table built
    inside a caller's ``torch.inference_mode()`` would otherwise break every later gradient through it."""
    import contextlib

    stack = contextlib.ExitStack()
    stack.enter_context(torch.inference_mode(False))
    stack.enter_context(torch.no_grad())
    return stack


@lru_cache(maxsize=8)
def _broadener(settings: PatternSettings, points_per_fwhm: float, pad_fwhm: float, dtype, device: str):
    with _persistent():
            return WarpedBroadener(settings.two_theta, settings.U, settings.V, settings.W, settings.broadener_eta,
                               settings.two_theta_cut, points_per_fwhm=points_per_fwhm, pad_fwhm=pad_fwhm,
                               dtype=dtype, device=device)


STRAIN_MARGIN = 0.5  # default X: enumerated reflections stay complete for d-spacings stretched by up to 50 %


class XRDSimulator:
    """Batched differentiable pattern simulator for variants of one template structure.

    ``sim.pattern(lattice[B, 6], frac[B, N, 3] or None) -> Tensor[B, M]`` (max-normalised);
    ``sim.peaks(lattice, frac) -> (two_theta[B, R], intensity[B, R])`` unbroadened;
    ``sim.invalid_members(lattice, frac) -> BoolTensor[B]``; ``sim.outside_margin(lattice) -> BoolTensor[B]``.
    """

    def __init__(self, structure, settings: PatternSettings = PatternSettings(), strain_margin: float = STRAIN_MARGIN,
                 device="cpu", profile_dtype=torch.float32, points_per_fwhm: float = 8.0,
                 pad_fwhm: float = 40.0):
        settings.validate()
        if not (math.isfinite(strain_margin) and 0 <= strain_margin < 2):
            raise ConfigError(f"strain_margin must be in [0, 2), got {strain_margin}")
        with _persistent():
            self._build(structure, settings, strain_margin, device, profile_dtype, points_per_fwhm, pad_fwhm)

    def _build(self, structure, settings, strain_margin, device, profile_dtype, points_per_fwhm, pad_fwhm):
        self.settings = settings
        self.strain_margin = float(strain_margin)
        self.device = torch.device(device)
        self.two_theta = settings.two_theta
        self._broaden = _broadener(settings, float(points_per_fwhm), float(pad_fwhm), profile_dtype,
                                   str(self.device))

        params = np.array([*structure.lattice.abc, *structure.lattice.angles], dtype=np.float64)
        frac = np.array(structure.frac_coords, dtype=np.float64)
        if not (np.all(np.isfinite(params)) and np.all(np.isfinite(frac))):
            raise InputError("structure has non-finite lattice parameters or coordinates")
        if not lat.volume_factor(torch.tensor(params)) > 1e-10 or np.any(params[:3] <= 0):
            raise InputError("structure has a degenerate cell (zero or negative volume)")
        self.n_sites = len(structure)
        self.template_lattice = torch.tensor(params, device=self.device)
        self.template_frac = torch.tensor(frac, device=self.device)

        # scatterers: element table [E] and occupancy matrix [E, N]
        symbols: list[str] = []
        occ_rows: dict[str, np.ndarray] = {}
        for j, site in enumerate(structure):
            for sp, occu in site.species.items():
                symbol = getattr(sp, "symbol", str(sp))
                if symbol not in occ_rows:
                    symbols.append(symbol)
                    occ_rows[symbol] = np.zeros(self.n_sites)
                occ_rows[symbol][j] += occu
        for symbol in symbols:
            scattering_params(symbol)  # InputError for unknown elements, before any work
        self.elements = tuple(symbols)
        self._occ = torch.tensor(np.stack([occ_rows[s] for s in symbols]), device=self.device)  # [E, N]
        one_species = bool(((self._occ != 0).sum(0) == 1).all())
        self._site_element = (self._occ != 0).to(torch.int64).argmax(0) if one_species else None  # [N]

        # reflection list: one of each Friedel pair, sorted by template 1/d
        wl = settings.wavelength
        self._sin_cut = math.sin(math.radians(settings.two_theta_cut / 2.0))
        self._g2_cut = (2.0 * self._sin_cut / wl) ** 2
        self._budget = resources.memory_budget()
        need = resources.estimate(params[:3], float(structure.lattice.volume), wavelength=wl,
                                  two_theta_cut=settings.two_theta_cut, strain_margin=self.strain_margin,
                                  n_sites=self.n_sites, n_elements=len(symbols), batch=1)
        if need.enumeration_bytes > self._budget:
            a, b, c = params[:3]
            raise InputError(
                f"cell too large for the simulator: {a:.4g} x {b:.4g} x {c:.4g} A has ~{need.reflections:.3g} "
                f"reflections up to 2theta = {settings.two_theta_cut:g} deg; listing them needs "
                f"~{resources.gib(need.enumeration_bytes)} of the {resources.gib(self._budget)} allowed "
                "(XRDTUI_MEMORY_GB)")
        hkl = _enumerate_hkl(params, (1.0 + self.strain_margin) * 2.0 * self._sin_cut / wl)
        self.hkl = hkl
        self._hkl = torch.tensor(hkl, dtype=torch.float64, device=self.device)
        h, k, l_ = hkl.T.astype(np.float64)
        self._hh = torch.tensor(np.stack([h * h, k * k, l_ * l_, 2 * h * k, 2 * k * l_, 2 * h * l_], 1),
                                device=self.device)
        # template phase sums per element, and which reflections are extinct at template coordinates
        phase = 2.0 * math.pi * hkl.astype(np.float64) @ frac.T  # [R, N]
        occ = self._occ.cpu().numpy()
        self._a_re = torch.tensor(np.cos(phase) @ occ.T, device=self.device)  # [R, E]
        self._a_im = torch.tensor(np.sin(phase) @ occ.T, device=self.device)
        scale = max(1.0, float(occ.sum()))
        alive = (np.abs(np.cos(phase) @ occ.T).max(1) > 1e-9 * scale) | (
            np.abs(np.sin(phase) @ occ.T).max(1) > 1e-9 * scale)
        self._alive = torch.tensor(np.nonzero(alive)[0], device=self.device)
        self._cache: dict = {}
        self._margin_whitener_np: np.ndarray | None = None  # outside_margin's template factor, made on first use
        self._margin_whitener: torch.Tensor | None = None  # the same on the simulator's device (non-CPU path)
        self._cdtype = profile_dtype  # structure factors, LP and intensities
        table, self._lpw_step = _lpw_table(settings)
        self._lpw_scale = 1.0 / self._lpw_step
        self._lpw_table = torch.tensor(table, dtype=profile_dtype, device=self.device)
        self._height_area = height_as_area(settings.eta)[0]

    # ----------------------------------------------------------------- validation
    def invalid_members(self, lattice, frac=None) -> torch.Tensor:
        """BoolTensor[B]: members with non-finite values, non-positive lengths, angles outside (0°, 180°)
        or a (nearly) zero-volume cell. Never raises for bad values (only for bad shapes)."""
        lattice, frac, _ = self._inputs(lattice, frac)
        return self._invalid(lattice, frac)

    def _invalid(self, lattice, frac) -> torch.Tensor:
        if lattice.device.type == "cpu":  # numpy: a few µs instead of ~20 torch kernels per step
            p = lattice.detach().numpy()
            with np.errstate(invalid="ignore", over="ignore"):
                bad = ~np.isfinite(p).all(-1) | (p[:, :3] <= 0).any(-1) | (p[:, 3:] <= 0).any(-1)
                bad |= (p[:, 3:] >= 180).any(-1)
                ca, cb, cg = np.cos(np.radians(p[:, 3:])).T
                bad |= ~(1.0 - ca * ca - cb * cb - cg * cg + 2.0 * ca * cb * cg > 1e-10)
                if frac is not None:
                    bad |= ~np.isfinite(frac.detach().numpy()).reshape(len(p), -1).all(-1)
            return torch.from_numpy(bad)
        with torch.no_grad():
            bad = ~torch.isfinite(lattice).all(-1)
            bad |= (lattice[:, :3] <= 0).any(-1) | (lattice[:, 3:] <= 0).any(-1) | (lattice[:, 3:] >= 180).any(-1)
            bad |= ~(lat.volume_factor(lattice) > 1e-10)
            if frac is not None:
                bad |= ~torch.isfinite(frac).flatten(1).all(-1)
        return bad

    def outside_margin(self, lattice) -> torch.Tensor:
        """BoolTensor[B]: cells whose d-spacings grow by more than (1 + strain_margin) for some direction,
        so reflections may be missing. Exact: smallest eigenvalue of G*₀^{-1/2} G* G*₀^{-1/2} <
        1/(1 + X)²."""
        lattice, _, _ = self._inputs(lattice, None)
        if lattice.device.type == "cpu":  # numpy: ~40 µs instead of ~0.4 ms of small torch kernels a step
            return torch.from_numpy(self._outside_margin_np(lattice.detach().numpy()))
        with torch.no_grad():
            if self._margin_whitener is None:
                self._margin_whitener = torch.as_tensor(self._margin_whitener_of_template(), device=lattice.device)
            l0inv = self._margin_whitener
            gs = lat.reciprocal_metric(lattice.to(torch.float64))
            ev = torch.linalg.eigvalsh(l0inv @ gs @ l0inv.T)[:, 0]
            return ~(ev >= self._margin_floor)

    @property
    def _margin_floor(self) -> float:
        """1/(1 + X)², less a relative 1e-12 so that the template itself is never outside."""
        return 1.0 / (1.0 + self.strain_margin) ** 2 * (1 - 1e-12)

    def _margin_whitener_of_template(self) -> np.ndarray:
        """G*₀^{-1/2} (the inverse Cholesky factor) of the template: the same at every step, made once."""
        if self._margin_whitener_np is None:
            g0 = _metric3(lat.reciprocal_metric6_np(self.template_lattice.double().numpy(), jacobian=False)[0])
            self._margin_whitener_np = np.linalg.inv(np.linalg.cholesky(g0))
        return self._margin_whitener_np

    def _outside_margin_np(self, p: np.ndarray) -> np.ndarray:
        """:meth:`outside_margin` in numpy float64 (the same test; non-finite and degenerate cells, whose
        metric is not finite, count as outside)."""
        w = self._margin_whitener_of_template()
        finite = np.isfinite(p).all(-1)
        with np.errstate(all="ignore"):
            m = w @ _metric3(lat.reciprocal_metric6_np(p[finite], jacobian=False)[0]) @ w.T
        good = np.isfinite(m).all((-1, -2))
        rows = np.flatnonzero(finite)[good]
        ok = np.zeros(len(p), dtype=bool)
        if rows.size:
            ok[rows] = np.linalg.eigvalsh(m[good])[:, 0] >= self._margin_floor
        return ~ok

    def _inputs(self, lattice, frac):
        lattice = torch.as_tensor(lattice, device=self.device)
        if not lattice.is_floating_point():
            lattice = lattice.to(torch.float64)
        single = lattice.dim() == 1
        if single:
            lattice = lattice[None]
        if lattice.dim() != 2 or lattice.shape[1] != 6:
            raise InputError(f"lattice must have shape [B, 6], got {tuple(lattice.shape)}")
        if frac is not None:
            frac = torch.as_tensor(frac, device=self.device).to(lattice.dtype)
            if frac.dim() == 2:
                frac = frac[None].expand(lattice.shape[0], -1, -1)
            if frac.dim() != 3 or frac.shape[1:] != (self.n_sites, 3) or frac.shape[0] != lattice.shape[0]:
                raise InputError(f"frac must have shape [{lattice.shape[0]}, {self.n_sites}, 3], "
                                 f"got {tuple(frac.shape)}")
        return lattice, frac, single

    def _checked(self, lattice, frac, check):
        lattice, frac, single = self._inputs(lattice, frac)
        bad = self._invalid(lattice, frac)
        if bool(bad.any()):
            bad = bad.to(self.device)
            if check:
                i = int(torch.nonzero(bad)[0])
                raise InputError(f"invalid cell in batch member {i} of {len(bad)} (NaN/inf, non-positive "
                                 f"length, angle outside (0, 180) or zero volume): {lattice[i].tolist()}")
            keep = ~bad[:, None]
            lattice = torch.where(keep, lattice, self.template_lattice.to(lattice.dtype))
            if frac is not None:
                frac = torch.where(keep[..., None], frac, self.template_frac.to(frac.dtype))
        return lattice, frac, single, bad

    def batch_bytes(self, batch: int) -> int:
        """Estimated bytes of one pattern call with gradients for ``batch`` members (engine.resources)."""
        return resources.call_bytes(batch, len(self.hkl), n_elements=len(self.elements), n_sites=self.n_sites)

    def _check_batch(self, batch: int) -> None:
        need = self.batch_bytes(batch)
        if need > self._budget:
            raise InputError(
                f"a batch of {batch} cells x {len(self.hkl)} reflections needs ~{resources.gib(need)} of the "
                f"{resources.gib(self._budget)} allowed (XRDTUI_MEMORY_GB): use fewer distortions or starts")

    # ----------------------------------------------------------------- physics
    def _peaks(self, lattice, frac):
        """Positions (2θ, degrees; lattice dtype) and integrated intensities (profile dtype) [B, R] of the
        reflections in range for at least one member."""
        self._check_batch(lattice.shape[0])
        gs6 = lat.reciprocal_metric6_fast(lattice)
        tab = self._tables(lattice.dtype, frac is None)
        g2 = gs6 @ tab["hh"].T  # [B, R_all]: 1/d² = hᵀ G* h in Å⁻²
        with torch.no_grad():  # drop reflections out of range for every member (weight exactly 0)
            idx = torch.nonzero((g2 < self._g2_cut).any(0)).squeeze(1)
        if idx.numel() == 0:  # no reflection in range for any member (a tiny cell): empty peak lists
            empty = g2[:, :0]
            return empty * 0.0, (empty * 0.0).to(self._cdtype)
        if idx.numel() < g2.shape[1]:
            g2 = g2.index_select(1, idx)
            tab = dict(tab, hkl=tab["hkl"].index_select(0, idx))
            if frac is None:
                tab.update(a_re=tab["a_re"].index_select(1, idx), a_im=tab["a_im"].index_select(1, idx))
        if frac is not None:
            frac = frac.to(self._cdtype)
        return _Reflections.apply(g2, frac, self, tab)

    def _tables(self, dtype, template_coords: bool):
        key = (dtype, template_coords)
        if key not in self._cache:
            with _persistent():
                self._cache[key] = self._build_tables(dtype, template_coords)
        return self._cache[key]

    def _build_tables(self, dtype, template_coords: bool) -> dict:
        cdt = self._cdtype
        i = self._alive if template_coords else torch.arange(len(self.hkl), device=self.device)
        tab = {"hh": self._hh[i].to(dtype), "hkl": (self._hkl[i] * (2.0 * math.pi)).to(cdt)}  # 2π·hkl
        if template_coords:  # extinct reflections stay extinct for any lattice: dropped
            tab["a_re"], tab["a_im"] = self._a_re[i].T.to(cdt), self._a_im[i].T.to(cdt)  # [E, R]
        tab.update(ff=FormFactorTable(self.elements, cdt, self.device),
                   occ=self._occ.to(cdt), occ_t=self._occ.T.contiguous().to(cdt),
                   site_occ=self._occ.sum(0).to(cdt).view(-1, 1, 1))
        return tab

    def peaks(self, lattice, frac=None, check: bool = True):
        """Unbroadened reflections (two_theta[B, R] in degrees, intensity[B, R]).

        One row per enumerated reflection in range for some member (Friedel pairs merged, m = 2; equal-angle
        reflections not merged). Intensities are m·|F|²·LP·taper, on pymatgen's unscaled scale.
        """
        lattice, frac, single, bad = self._checked(lattice, frac, check)
        tt, inten = self._peaks(lattice, frac)
        if bool(bad.any()):
            nan = torch.full_like(inten, float("nan"))
            inten = torch.where(bad[:, None], nan, inten)
        return (tt[0], inten[0]) if single else (tt, inten)

    def pattern(self, lattice, frac=None, check: bool = True) -> torch.Tensor:
        """Max-normalised patterns [B, M] (profile dtype) for lattice [B, 6] (Å, degrees) and fractional
        coordinates [B, N, 3] (None: the template's). Differentiable w.r.t. both.

        check=True raises InputError for an invalid member; check=False returns NaN rows for invalid
        members (with zero gradient), see :meth:`invalid_members`.
        """
        lattice, frac, single, bad = self._checked(lattice, frac, check)
        tt, inten = self._peaks(lattice, frac)
        if self.settings.profile == Profile.HEIGHT:  # unit-height peaks = A·H(2θ_k) × unit-area peaks
            s = self.settings
            inten = inten * (self._height_area * caglioti_fwhm(tt.to(inten.dtype), s.U, s.V, s.W))
        out = self._broaden(tt, inten, normalise=True)  # max 1 per pattern; an empty one stays 0
        if bool(bad.any()):
            out = torch.where(bad[:, None], torch.full_like(out, float("nan")), out)
        return out[0] if single else out

    def reference_pattern(self) -> np.ndarray:
        """The template structure's own pattern [M] (float32 numpy, max 1) at its lattice and its
        coordinates wrapped into [0, 1): the ground truth every recovery fits. The one home of that
        computation (sweeps, landscapes, figures and reports call it)."""
        frac = np.mod(self.template_frac.cpu().numpy(), 1.0)
        frac = np.where(frac >= 1.0, 0.0, frac)  # float mod can round up to exactly 1.0
        with torch.no_grad():
            out = self.pattern(self.template_lattice[None], torch.as_tensor(frac, device=self.device)[None])[0]
        return out.detach().cpu().numpy().astype(np.float32)


def _metric3(g6: np.ndarray) -> np.ndarray:
    """[..., 6] (g11, g22, g33, g12, g23, g31) -> the symmetric [..., 3, 3] matrix."""
    return g6[..., [0, 3, 5, 3, 1, 4, 5, 4, 2]].reshape(*g6.shape[:-1], 3, 3)


def _lpw_table(settings: PatternSettings, n: int = 1 << 14) -> tuple[np.ndarray, float]:
    """Table [n + 1, 2] of P(x) = 2x·LP(x)·w(2θ(x)) at x = i·Δ, 0 ≤ x ≤ sin²θ_cut, and the slope of each
    segment, (P_{i+1} − P_i)/Δ; returns (table, Δ).

    x = sin²θ; LP(x) = (1 + (1 − 2x)²)/(x √(1 − x)) (Lorentz–polarisation, 1 + cos²2θ over sin²θ cosθ);
    w = taper of 2θ = 2 asin √x: 1 up to 2θ_max + tail_full, ½(1 + cos πz) with
    z = (2θ − 2θ_max − tail_full)/(tail_zero − tail_full), 0 from 2θ_cut on (w = 1 throughout when
    tail_full = tail_zero: the cut at 2θ_cut is then the simulator's mask alone). P is smooth and finite
    (P(0) = 4), so linear interpolation errs by ~Δ²P″/8 < 1e-8 relative; intensities use P(x)/x.
    """
    x_cut = math.sin(math.radians(settings.two_theta_cut / 2.0)) ** 2
    step = x_cut / n
    x = np.arange(n + 2) * step  # one node beyond the cut: the last segment has a slope too
    two_theta = np.degrees(2.0 * np.arcsin(np.sqrt(np.minimum(x, 1.0))))
    width = settings.tail_zero - settings.tail_full
    z = np.clip((two_theta - settings.two_theta_max - settings.tail_full) / width, 0.0, 1.0) if width > 0 else 0.0
    p = 2.0 * (1.0 + (1.0 - 2.0 * x) ** 2) / np.sqrt(1.0 - np.minimum(x, 0.999999)) * (0.5 + 0.5 * np.cos(math.pi * z))
    return np.stack([p[:-1], np.diff(p) / step], 1), step


class _Reflections(torch.autograd.Function):
    """g2 = 1/d² [B, R] (and frac [B, N, 3] or None) → (2θ [B, R] degrees, intensity [B, R]).

    Forward, with x = sin²θ = λ² g2 / 4 and s² = g2 / 4:
        2θ = 2 asin(√x),  LP = (1 + (1 − 2x)²) / (x √(1 − x)) = (1 + cos²2θ)/(sin²θ cosθ),
        taper w(2θ) (cosine, C¹); 2·LP·w is read from the table of P(x) = 2x·LP·w (see _lpw_table),
        f_e(s²) from scattering.FormFactorTable,  F = Σ_e f_e S_e,  S_e = Σ_n occ_en exp(2πi h·r_n),
        I = 2 |F|² LP w   (zero, with zero derivatives, where g2 ≥ g2_cut).
    Backward by the analytic derivatives of these scalar functions (one fused pass instead of replaying
    ~40 autograd nodes):
        d2θ/dg2 = (180/π) λ² / (4 sinθ cosθ),  d(P/x)/dx = (P′ − P/x)/x (P′: the table segment's slope),
        df_e/ds² (FormFactorTable),  d|F|²/df_e = 2 Re(F S_e*),
        dL/dS_e = 2 (dL/d|F|²) f_e F,  dL/dφ_n = Σ_e occ_en (cos φ_n dL/dIm S_e − sin φ_n dL/dRe S_e),
        dL/dr_n = 2π Σ_hkl h dL/dφ_n(hkl)   with φ_n = 2π h·r_n.
    """

    @staticmethod
    def forward(ctx, g2, frac, sim, tab):
        cdt = sim._cdtype
        wl2 = sim.settings.wavelength ** 2
        ok = g2 < sim._g2_cut
        g2s = torch.where(ok, g2, sim._g2_cut)  # masked: at the cut, where the taper weight is 0
        x = g2s * (0.25 * wl2)  # sin²θ
        sin_t = torch.sqrt(x)
        tt = torch.asin(sin_t) * (360.0 / math.pi)
        dtt = torch.where(ok, (45.0 * wl2 / math.pi) / (sin_t * torch.sqrt(1.0 - x)), 0.0)  # d2θ/dg2

        # 2·LP·w = P(x)/x from the table of P(x) = 2x·LP(x)·w(2θ(x)) (smooth, finite at x = 0)
        xc = x.to(cdt)
        pos = xc * sim._lpw_scale
        node = pos.long()
        pv = sim._lpw_table.index_select(0, node.view(-1)).view(*x.shape, 2)  # (P, dP/dx) per segment
        slope = pv[..., 1]
        inv_x = 1.0 / xc
        lpw = (pv[..., 0] + (pos - node) * slope * sim._lpw_step) * inv_x
        dlpw = (slope - lpw) * inv_x * (0.25 * wl2)  # d(2·LP·w)/dg2
        # beyond the cut the weight is exactly 0 (with the default hard cut the table's P is not 0 there)
        keep = ok.to(cdt)
        lpw, dlpw = lpw * keep, dlpw * keep

        shape = (-1, *x.shape)
        f, dfds2 = tab["ff"](xc * (1.0 / wl2))  # element-first [E, B·R], s² = sin²θ/λ² = 1/(4d²)
        f, dfds2 = f.view(shape), dfds2.view(shape)  # [E, B, R]
        if frac is None:
            s_re, s_im, cos, sin = tab["a_re"][:, None], tab["a_im"][:, None], None, None  # [E, 1, R]
        else:
            n_sites = frac.shape[1]
            phase = (frac.transpose(0, 1).reshape(-1, 3) @ tab["hkl"].T).view(n_sites, *x.shape)  # [N, B, R]
            cos, sin = torch.cos(phase), torch.sin(phase)
            s_re = (tab["occ"] @ cos.view(n_sites, -1)).view(shape)  # Σ_n occ cos: [E, B, R]
            s_im = (tab["occ"] @ sin.view(n_sites, -1)).view(shape)
        f_re, f_im = (f * s_re).sum(0), (f * s_im).sum(0)
        f2 = f_re * f_re + f_im * f_im
        inten = f2 * lpw
        ctx.sim, ctx.tab, ctx.has_frac = sim, tab, frac is not None
        ctx.g2_dtype = g2.dtype
        ctx.save_for_backward(dtt, dlpw, f, dfds2, s_re, s_im, f_re, f_im, f2, lpw, cos, sin)
        return tt, inten

    @staticmethod
    def backward(ctx, g_tt, g_i):
        dtt, dlpw, f, dfds2, s_re, s_im, f_re, f_im, f2, lpw, cos, sin = ctx.saved_tensors
        sim, tab = ctx.sim, ctx.tab
        cdt = sim._cdtype
        grad_g2 = grad_frac = None
        g_i = g_i.to(cdt)
        g_f2 = g_i * lpw  # dL/d|F|²
        if ctx.needs_input_grad[0]:
            df2ds2 = ((f_re * s_re + f_im * s_im) * dfds2).sum(0)  # ½ d|F|²/ds², s² = g2/4
            di = g_f2 * df2ds2 * 0.5 + g_i * f2 * dlpw
            grad_g2 = di.to(ctx.g2_dtype) + (g_tt * dtt if g_tt is not None else 0.0)
        if ctx.has_frac and ctx.needs_input_grad[1]:
            n_el, n_sites = tab["occ"].shape
            d_sre = ((2.0 * g_f2 * f_re) * f).view(n_el, -1)  # dL/dS_re [E, B·R]
            d_sim = ((2.0 * g_f2 * f_im) * f).view(n_el, -1)
            if sim._site_element is not None:  # one species per site: dL/dcos_n = occ_n dL/dS_re[e(n)]
                dcos = d_sre.index_select(0, sim._site_element).view(cos.shape)  # [N, B, R] (occ later)
                dsin = d_sim.index_select(0, sim._site_element).view(cos.shape)
            else:
                dcos = (tab["occ_t"] @ d_sre).view(cos.shape)
                dsin = (tab["occ_t"] @ d_sim).view(cos.shape)
            dphase = torch.addcmul(cos * dsin, sin, dcos, value=-1.0).view(-1, cos.shape[-1])
            grad_frac = (tab["hkl"].T @ dphase.T).T.view(n_sites, -1, 3)  # [N, B, 3]; hkl carries 2π
            if sim._site_element is not None:
                grad_frac = grad_frac * tab["site_occ"]
            grad_frac = grad_frac.transpose(0, 1)  # [B, N, 3]
        return grad_g2, grad_frac, None, None


def _enumerate_hkl(params: np.ndarray, g_max: float) -> np.ndarray:
    """Integer hkl [R, 3] with 0 < |g| ≤ g_max (Å⁻¹, template cell), one of each Friedel pair
    (lexicographically positive), sorted by |g|."""
    lengths = params[:3]
    hmax = np.floor(g_max * lengths).astype(int)  # |h| = |a·g| ≤ |a| |g|
    rng = [np.arange(-m, m + 1) for m in hmax]
    h, k, l_ = (x.ravel() for x in np.meshgrid(*rng, indexing="ij"))
    half = (h > 0) | ((h == 0) & (k > 0)) | ((h == 0) & (k == 0) & (l_ > 0))
    hkl = np.stack([h[half], k[half], l_[half]], 1)
    gs = lat.reciprocal_metric_np(params)
    g2 = np.einsum("ri,ij,rj->r", hkl, gs, hkl)
    sel = g2 <= g_max * g_max
    order = np.argsort(g2[sel], kind="stable")
    return hkl[sel][order]


def reference_pattern(structure, settings: PatternSettings = PatternSettings()) -> np.ndarray:
    """:meth:`XRDSimulator.reference_pattern` of ``structure`` (a simulator without strain margin)."""
    return XRDSimulator(structure, settings, strain_margin=0.0).reference_pattern()
