"""The differentiable simulator against pymatgen's XRDCalculator and the exact dense pseudo-Voigt sum."""

import math

import numpy as np
import pytest
import torch
from pymatgen.analysis.diffraction.xrd import XRDCalculator
from pymatgen.core import Lattice, Structure

from xrdtui.engine.noise import coord_noise, lattice_noise
from xrdtui.engine.profile import dense_profile
from xrdtui.engine.simulator import PatternSettings, XRDSimulator, reference_pattern
from xrdtui.engine.structures import BENCHMARK_NAMES, benchmark_structure, with_params
from xrdtui.errors import InputError

SETTINGS = PatternSettings()
CALC = XRDCalculator(wavelength=1.5406)
SMALL = PatternSettings(two_theta_max=60.0, step=0.05)  # for gradcheck: few bins, few reflections


def merged_peaks(two_theta, intensity, tol=1e-5):
    """Merge reflections at equal angle as pymatgen does (round 2θ/tol), keep 2θ < 90; sorted [P, 2]."""
    tt, inten = np.asarray(two_theta, dtype=np.float64), np.asarray(intensity, dtype=np.float64)
    keep = tt <= 90.0
    peaks: dict[int, list] = {}
    for t, i in zip(tt[keep], inten[keep]):
        key = int(np.round(t / tol))
        if key in peaks:
            peaks[key][1] += i
        else:
            peaks[key] = [t, i]
    return np.array(sorted(peaks.values()))


def assert_same_peaks(ours, ref_x, ref_y):
    """Every reference peak above 1 % found at the same 2θ (1e-4°) with the same relative intensity
    (0.5 on the 0-100 scale), and no peak of ours above 1 % missing from the reference."""
    ours = ours.copy()
    ours[:, 1] *= 100.0 / ours[:, 1].max()
    ref_x, ref_y = np.asarray(ref_x), np.asarray(ref_y) * 100.0 / np.max(ref_y)
    for x, y in zip(ref_x, ref_y):
        if y < 1.0:
            continue
        j = np.argmin(np.abs(ours[:, 0] - x))
        assert abs(ours[j, 0] - x) < 1e-4, f"pymatgen peak at {x:.5f} not found"
        assert abs(ours[j, 1] - y) < 0.5, f"intensity at {x:.5f}: {ours[j, 1]:.3f} vs {y:.3f}"
    for x, y in ours:
        if y >= 1.0:
            assert np.abs(ref_x - x).min() < 1e-4, f"simulator peak at {x:.5f} ({y:.2f}) not in pymatgen"


def rel_l2(pred, ref):
    return ((pred.double() - ref).norm(dim=-1) / ref.norm(dim=-1)).max().item()


def dense_reference(sim, lattice, frac=None):
    s = sim.settings
    tt, inten = sim.peaks(lattice, frac)
    ref = dense_profile(s.two_theta, tt, inten, s.U, s.V, s.W, s.eta, profile=s.profile)
    return ref / ref.amax(1, keepdim=True)


@pytest.fixture(scope="module")
def sims():
    return {name: XRDSimulator(benchmark_structure(name)) for name in BENCHMARK_NAMES}


@pytest.mark.parametrize("name", BENCHMARK_NAMES)
def test_peaks_match_pymatgen(sims, name):
    sim = sims[name]
    tt, inten = sim.peaks(sim.template_lattice)
    ref = CALC.get_pattern(benchmark_structure(name), scaled=False)
    ours = merged_peaks(tt, inten)
    assert_same_peaks(ours, ref.x, ref.y)
    # unscaled intensities are on pymatgen's scale: 2 |F|² LP per Friedel pair
    j = int(np.argmax(ref.y))
    k = np.argmin(np.abs(ours[:, 0] - ref.x[j]))
    assert ours[k, 1] == pytest.approx(ref.y[j], rel=1e-4)


@pytest.mark.parametrize("name", ["Na3MnCoNiO6", "BPO4", "Ti2Sn"])
def test_distorted_peaks_match_pymatgen(sims, name):
    """No symmetry left: strained cell and displaced atoms, compared reflection by reflection."""
    sim, st = sims[name], benchmark_structure(name)
    rng = np.random.default_rng(7)
    lattice = lattice_noise(sim.template_lattice.numpy(), 0.04, 1, rng)[0]
    frac = coord_noise(sim.template_frac.numpy(), 0.03, 1, rng)[0]
    tt, inten = sim.peaks(torch.tensor(lattice), torch.tensor(frac))
    ref = CALC.get_pattern(with_params(st, lattice, frac), scaled=False)
    assert_same_peaks(merged_peaks(tt, inten), ref.x, ref.y)


def test_partial_occupancy_matches_pymatgen():
    st = Structure(Lattice.tetragonal(3.9, 5.1), [{"Fe": 0.5, "Co": 0.5}, {"O": 0.75}, "Ti"],
                   [[0, 0, 0], [0.5, 0.5, 0.3], [0.5, 0.5, 0.8]])
    sim = XRDSimulator(st)
    tt, inten = sim.peaks(sim.template_lattice)
    ref = CALC.get_pattern(st, scaled=False)
    assert_same_peaks(merged_peaks(tt, inten), ref.x, ref.y)


@pytest.mark.parametrize("profile", ["height", "area"])
@pytest.mark.parametrize("name", ["U2Ti", "Na3MnCoNiO6", "PbF2", "CsTlO"])
def test_profile_matches_dense_sum(sims, name, profile):
    sim = sims[name] if profile == SETTINGS.profile else XRDSimulator(benchmark_structure(name),
                                                                      PatternSettings(profile=profile))
    rng = np.random.default_rng(3)
    lattice = torch.tensor(np.vstack([sim.template_lattice.numpy(),
                                      lattice_noise(sim.template_lattice.numpy(), 0.05, 3, rng)]))
    pred = sim.pattern(lattice)
    assert pred.shape == (4, 9000) and pred.dtype == torch.float32
    assert rel_l2(pred, dense_reference(sim, lattice)) < 1e-3
    frac = torch.tensor(coord_noise(sim.template_frac.numpy(), 0.05, 4, rng))
    assert rel_l2(sim.pattern(lattice, frac), dense_reference(sim, lattice, frac)) < 1e-3


def a2_pattern(two_theta, positions, intensities, U=0.1, V=0.01, W=0.1, eta=0.1, unit_area=False):
    """Paper A.2 written out independently: Σ I_k [η G + (1 − η) L] with Caglioti widths; G, L of unit
    height (or unit area), max-normalised."""
    t = np.tan(np.radians(np.asarray(positions)) / 2)
    fwhm = np.sqrt(U * t * t + V * t + W)
    out = np.zeros_like(two_theta)
    for p, h, i in zip(positions, fwhm, intensities):
        z2 = ((two_theta - p) / h) ** 2
        g, lor = np.exp(-4 * np.log(2) * z2), 1 / (1 + 4 * z2)
        if unit_area:
            g, lor = g * (2 / h) * np.sqrt(np.log(2) / np.pi), lor * 2 / (np.pi * h)
        out += i * (eta * g + (1 - eta) * lor)
    return out / out.max()


OTHER_STRUCTURES = {  # not benchmark structures: rock salt, diamond, wurtzite, rutile, baddeleyite
    "NaCl": (225, (5.64, 5.64, 5.64, 90, 90, 90), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]),
    "Si": (227, (5.431, 5.431, 5.431, 90, 90, 90), ["Si"], [[0.125, 0.125, 0.125]]),
    "ZnO": (186, (3.2496, 3.2496, 5.2065, 90, 90, 120), ["Zn", "O"], [[1 / 3, 2 / 3, 0], [1 / 3, 2 / 3, 0.3819]]),
    "TiO2": (136, (4.594, 4.594, 2.959, 90, 90, 90), ["Ti", "O"], [[0, 0, 0], [0.3048, 0.3048, 0]]),
    "ZrO2": (14, (5.1505, 5.2116, 5.3173, 90, 99.23, 90), ["Zr", "O", "O"],
             [[0.2754, 0.0395, 0.2083], [0.0700, 0.3317, 0.3447], [0.4496, 0.7569, 0.4792]]),
}


@pytest.mark.parametrize("name", list(OTHER_STRUCTURES))
def test_patterns_are_pymatgen_peaks_broadened_by_the_paper_formula(name):
    """Default settings = paper A.2: pymatgen's peaks in 0-90° broadened with unit-height G and L; the
    "area" option = the same with unit-area G and L. Each agrees to < 1e-3 relative L2 and is > 5 %
    from the other form (so the test tells the two apart)."""
    number, lattice, species, coords = OTHER_STRUCTURES[name]
    structure = Structure.from_spacegroup(number, Lattice.from_parameters(*lattice), species, coords)
    peaks = CALC.get_pattern(structure, scaled=False, two_theta_range=(0, 90))
    for profile, unit_area in (("height", False), ("area", True)):
        sim = XRDSimulator(structure, PatternSettings(profile=profile))
        with torch.no_grad():
            ours = sim.pattern(sim.template_lattice[None])[0].double().numpy()
        ref = a2_pattern(SETTINGS.two_theta, peaks.x, peaks.y, unit_area=unit_area)
        other = a2_pattern(SETTINGS.two_theta, peaks.x, peaks.y, unit_area=not unit_area)
        assert np.linalg.norm(ours - ref) / np.linalg.norm(ref) < 1e-3
        assert np.linalg.norm(ours - other) / np.linalg.norm(other) > 0.05


def test_pattern_is_normalised_and_batch_independent(sims):
    sim = sims["Au2S"]
    lattice = torch.tensor(lattice_noise(sim.template_lattice.numpy(), 0.05, 5, np.random.default_rng(0)))
    batch = sim.pattern(lattice)
    np.testing.assert_allclose(batch.amax(1).numpy(), 1.0, rtol=1e-6)
    assert float(batch.min()) > 0
    for i in (0, 3):
        np.testing.assert_allclose(sim.pattern(lattice[i : i + 1])[0].numpy(), batch[i].numpy(), atol=1e-6)
    # None means the template's coordinates
    frac = sim.template_frac.expand(5, -1, -1)
    np.testing.assert_allclose(sim.pattern(lattice, frac).numpy(), batch.numpy(), atol=2e-6)
    # one unbatched cell
    assert sim.pattern(lattice[0]).shape == (9000,)
    np.testing.assert_allclose(reference_pattern(benchmark_structure("Au2S")),
                               sim.pattern(sim.template_lattice).numpy(), atol=1e-6)


def test_gradcheck_lattice_and_coordinates():
    sim = XRDSimulator(benchmark_structure("U2Ti"), SMALL, profile_dtype=torch.float64)
    lattice = torch.tensor([[4.80, 4.77, 2.81, 90.5, 89.0, 119.0], [4.70, 4.90, 2.79, 91.0, 90.0, 121.0]],
                           dtype=torch.float64, requires_grad=True)
    frac = (sim.template_frac + 0.01 * torch.randn(2, 3, 3, dtype=torch.float64)).requires_grad_(True)
    weights = torch.randn(2, SMALL.n_points, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda lat, fr: (sim.pattern(lat, fr) * weights).sum(), (lattice, frac),
                                    eps=1e-6, atol=1e-5, rtol=1e-4)
    assert torch.autograd.gradcheck(lambda lat: (sim.pattern(lat) * weights).sum(), (lattice,),
                                    eps=1e-6, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("mixed", [False, True])
def test_gradcheck_partial_occupancy(mixed):
    """Sites with occupancy < 1 (one species per site) and mixed sites (two species) take different
    backward paths."""
    first = {"Fe": 0.5, "Co": 0.5} if mixed else {"Fe": 0.7}
    st = Structure(Lattice.tetragonal(3.9, 5.1), [first, {"O": 0.75}, "Ti"],
                   [[0, 0, 0], [0.5, 0.5, 0.3], [0.5, 0.5, 0.8]])
    sim = XRDSimulator(st, SMALL, profile_dtype=torch.float64)
    lattice = (sim.template_lattice + torch.tensor([0.02, -0.03, 0.01, 0.5, -0.4, 0.3], dtype=torch.float64))
    lattice = lattice.expand(2, -1).clone().requires_grad_(True)
    frac = (sim.template_frac + 0.02 * torch.randn(2, 3, 3, dtype=torch.float64)).requires_grad_(True)
    weights = torch.randn(2, SMALL.n_points, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda lat, fr: (sim.pattern(lat, fr) * weights).sum(), (lattice, frac),
                                    eps=1e-6, atol=1e-5, rtol=1e-4)


def test_gradients_flow_in_float32_default():
    sim = XRDSimulator(benchmark_structure("BPO4"))
    lattice = torch.tensor(lattice_noise(sim.template_lattice.numpy(), 0.03, 4, np.random.default_rng(1)),
                           dtype=torch.float32, requires_grad=True)
    frac = sim.template_frac.to(torch.float32).expand(4, -1, -1).clone().requires_grad_(True)
    target = sim.pattern(sim.template_lattice)
    loss = (1 - torch.nn.functional.cosine_similarity(sim.pattern(lattice, frac), target[None])).sum()
    loss.backward()
    assert torch.isfinite(lattice.grad).all() and lattice.grad.abs().sum() > 0
    assert torch.isfinite(frac.grad).all() and frac.grad.abs().sum() > 0


TAPER = PatternSettings(tail_full=2.0, tail_zero=4.0)


@pytest.mark.parametrize("settings, smooth", [(TAPER, True), (SETTINGS, False)])
def test_peak_crossing_the_range_end_is_continuous(settings, smooth):
    """With the taper option, a strong reflection moving through 90° and the taper (92-94°) changes the
    pattern smoothly; the same test catches the default hard cut at 90° (second differences jump)."""
    sim = XRDSimulator(benchmark_structure("ErPt3"), settings)
    tt, inten = sim.peaks(sim.template_lattice)
    sel = (tt > 70) & (tt < 90)
    moving = float(tt[sel][inten[sel].argmax()])
    # shrink the cubic cell so that this reflection moves from 89° to 95°
    s_lo = math.sin(math.radians(moving / 2)) / math.sin(math.radians(89.0 / 2))
    s_hi = math.sin(math.radians(moving / 2)) / math.sin(math.radians(95.0 / 2))
    scales = torch.linspace(s_lo, s_hi, 201, dtype=torch.float64)
    lattice = sim.template_lattice.expand(201, -1).clone()
    lattice[:, :3] *= scales[:, None]
    patterns = sim.pattern(lattice).double()
    second = (patterns[2:] - 2 * patterns[1:-1] + patterns[:-2]).norm(dim=1)
    assert (float(second.max()) < 3.0 * float(second.median())) == smooth


def test_invalid_input_raises_or_is_reported(sims):
    sim = sims["U2Ti"]
    good = sim.template_lattice
    cases = {
        "nan": torch.tensor([float("nan"), 4.8, 2.8, 90, 90, 120], dtype=torch.float64),
        "negative length": torch.tensor([-4.8, 4.8, 2.8, 90, 90, 120], dtype=torch.float64),
        "zero volume": torch.tensor([4.8, 4.8, 2.8, 40, 50, 90], dtype=torch.float64),
        "impossible angles": torch.tensor([4.8, 4.8, 2.8, 20, 30, 100], dtype=torch.float64),
    }
    for bad in cases.values():
        with pytest.raises(InputError, match="invalid cell in batch member 1"):
            sim.pattern(torch.stack([good, bad]))
        mask = sim.invalid_members(torch.stack([good, bad, good]))
        assert mask.tolist() == [False, True, False]
    frac = sim.template_frac.expand(2, -1, -1).clone()
    frac[0, 1, 2] = float("inf")
    with pytest.raises(InputError):
        sim.pattern(torch.stack([good, good]), frac)
    # inside an optimiser: NaN rows for invalid members, zero gradient for them, others untouched
    lattice = torch.stack([good, cases["zero volume"], good * 1.01]).requires_grad_(True)
    out = sim.pattern(lattice, check=False)
    assert torch.isnan(out[1]).all() and torch.isfinite(out[[0, 2]]).all()
    out[[0, 2]].sum().backward()
    assert (lattice.grad[1] == 0).all() and torch.isfinite(lattice.grad).all()
    with pytest.raises(InputError, match="shape"):
        sim.pattern(torch.ones(2, 5))
    with pytest.raises(InputError, match="shape"):
        sim.pattern(torch.stack([good, good]), torch.zeros(2, 4, 3))


def test_bad_structures_raise_input_error():
    with pytest.raises(InputError, match="Es"):
        XRDSimulator(Structure(Lattice.cubic(4.0), ["Es", "O"], [[0, 0, 0], [0.5, 0.5, 0.5]]))
    flat = Structure(Lattice.cubic(4.0), ["Fe"], [[0, 0, 0]])
    flat.lattice = Lattice.from_parameters(4.0, 4.0, 4.0, 40.0, 50.0, 90.0)
    with pytest.raises(InputError):
        XRDSimulator(flat)


def test_outside_margin_flags_stretched_cells(sims):
    sim = sims["CsTlO"]  # default margin 0.5: d-spacings may grow by 50 %
    lattice = sim.template_lattice.expand(4, -1).clone()
    lattice[1, :3] *= 1.45  # uniform expansion, within the margin
    lattice[2, 0] *= 1.55  # one axis beyond it
    lattice[3, :3] *= 0.6  # shrinking is always covered
    assert sim.outside_margin(lattice).tolist() == [False, False, True, False]


def test_enumeration_margin_is_complete(sims):
    """Reflections of a cell stretched within the margin agree with a simulator built on that cell."""
    sim = sims["Fe2SbTe3"]
    stretched = sim.template_lattice.clone()
    stretched[:3] *= 1.4
    stretched[4] += 3.0
    fresh = XRDSimulator(with_params(benchmark_structure("Fe2SbTe3"), stretched.numpy()), strain_margin=0.0)
    assert rel_l2(sim.pattern(stretched)[None], fresh.pattern(fresh.template_lattice)[None].double()) < 1e-5


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_cpu():
    st = benchmark_structure("Na3MnCoNiO6")
    cpu, gpu = XRDSimulator(st), XRDSimulator(st, device="cuda")
    lattice = torch.tensor(lattice_noise(cpu.template_lattice.numpy(), 0.05, 8, np.random.default_rng(2)))
    frac = torch.tensor(coord_noise(cpu.template_frac.numpy(), 0.05, 8, np.random.default_rng(3)))
    a = cpu.pattern(lattice, frac)
    b = gpu.pattern(lattice.cuda().requires_grad_(True), frac.cuda())
    b.sum().backward()
    np.testing.assert_allclose(b.detach().cpu().numpy(), a.numpy(), atol=1e-5)


def test_form_factor_table_matches_the_formula_and_its_derivative():
    from xrdtui.engine.scattering import FormFactorTable, form_factor, scattering_params

    symbols = ("U", "Ti", "O")
    table = FormFactorTable(symbols)
    s2 = torch.linspace(0.0, 0.3, 7, dtype=torch.float64)
    f, dfds2 = table(s2)
    for e, sym in enumerate(symbols):
        z, coeff = scattering_params(sym)
        ref = form_factor(s2, torch.tensor([float(z)], dtype=torch.float64),
                          torch.tensor(coeff[None, :, 0]), torch.tensor(coeff[None, :, 1]))[:, 0]
        np.testing.assert_allclose(f[e].numpy(), ref.numpy(), rtol=1e-12)
        assert float(f[e, 0]) == z  # f(0) = Z
    h = 1e-6
    fd = (table(s2 + h)[0] - table(s2 - h)[0]) / (2 * h)
    np.testing.assert_allclose(dfds2.numpy(), fd.numpy(), rtol=1e-6, atol=1e-6)
    with pytest.raises(InputError):
        FormFactorTable(("Fe", "Md"))


def test_a_cell_without_reflections_in_range_gives_an_empty_pattern():
    """A tiny cell (every d < λ / (2 sin 45°)) has no peak in 0-90°: the pattern is all
    zeros with a zero gradient, not an error (found by the fuzz test; pymatgen's XRDCalculator raises on it)."""
    from pymatgen.core import Lattice, Structure

    s = Structure(Lattice.from_parameters(1, 1, 1, 30, 30, 30), ["Na", "Na"], [[0, 0, 0], [0, 0, 0.1]])
    recip = s.lattice.reciprocal_lattice_crystallographic.matrix  # |g| = 1/d
    hkl = np.array([(h, k, l) for h in range(-4, 5) for k in range(-4, 5) for l in range(-4, 5) if (h, k, l) != (0, 0, 0)])
    d_max = 1.0 / np.linalg.norm(hkl @ recip, axis=1).min()
    assert 1.5406 / (2 * d_max) > np.sin(np.radians(45.0))  # even the widest spacing diffracts beyond 90°
    sim = XRDSimulator(s)
    lattice = torch.tensor([[1.0, 1.0, 1.0, 30.0, 30.0, 30.0]] * 2, dtype=torch.float64, requires_grad=True)
    out = sim.pattern(lattice)
    out.sum().backward()
    assert out.shape == (2, 9000) and float(out.abs().max()) == 0.0
    assert torch.equal(lattice.grad, torch.zeros_like(lattice))


def test_outside_margin_is_the_smallest_eigenvalue_test_on_any_cell(sims):
    """The margin test against its definition written here with pymatgen's reciprocal lattice: a cell is
    outside when the smallest eigenvalue of G*0^(-1/2) G* G*0^(-1/2) is below 1/(1+X)^2 (G* in Å⁻², no 2π);
    non-finite cells count as outside."""
    sim = next(iter(sims.values()))
    rng = np.random.default_rng(5)
    p0 = sim.template_lattice.double().numpy()
    scale = np.r_[rng.uniform(-0.4, 0.5, (300, 6)), rng.uniform(-0.05, 0.05, (300, 6))]
    scale[:, 3:] *= 0.2  # angles within ±10 %: real cells, as descent sees them
    cells = p0 * (1 + scale)
    cells[::37, 2] = np.nan

    def gstar(p):
        m = Lattice.from_parameters(*p).reciprocal_lattice_crystallographic.matrix
        return m @ m.T

    w = np.linalg.inv(np.linalg.cholesky(gstar(p0)))
    want = np.array([not (np.isfinite(p).all() and np.linalg.eigvalsh(w @ gstar(p) @ w.T)[0]
                          >= 1.0 / (1.0 + sim.strain_margin) ** 2 * (1 - 1e-12)) for p in cells])
    got = sim.outside_margin(torch.tensor(cells)).numpy()
    assert 50 < want.sum() < 550  # both kinds of cell are there
    assert (got == want).all()
