"""The benchmark structures of the study and loading of user structures.

Every structure inside the engine is a pymatgen ``Structure`` in its conventional standard cell
(``SpacegroupAnalyzer(s, symprec=0.01).get_conventional_standard_structure()``).

The ten benchmarks are defined here from crystallographic facts (space group number, conventional
lattice constants in ångström and degrees, one representative per Wyckoff orbit) and expanded with
``Structure.from_spacegroup``; the facts are those of the conventional standard cells of the reference
structures (Materials Project entries, BPO4 from the literature).
"""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from xrdtui.errors import InputError
from xrdtui.vocab import CELLS, FAMILIES, Cell, Family, check_choice  # noqa: F401  (FAMILIES: part of this module's interface)

if TYPE_CHECKING:  # pymatgen is imported lazily: the CLI start-up path may import this module
    from pymatgen.core import Structure

SYMPREC = 0.01  # symmetry tolerance (Å) for every space-group analysis in the project


_T = 1.0 / 3.0  # exact special positions of the hexagonal groups


@dataclass(frozen=True)
class Site:
    """One representative of a Wyckoff orbit: species, Wyckoff letter, fractional (x, y, z)."""

    species: str
    wyckoff: str
    coords: tuple[float, float, float]


@dataclass(frozen=True)
class BenchmarkSpec:
    """Crystallographic facts of one benchmark structure (conventional standard setting).

    ``lattice`` is (a, b, c, alpha, beta, gamma) in ångström and degrees.
    """

    name: str
    spacegroup_symbol: str
    spacegroup_number: int
    mp_id: str
    lattice: tuple[float, float, float, float, float, float]
    sites: tuple[Site, ...]

    @property
    def family(self) -> str:
        return family_of_spacegroup(self.spacegroup_number)

    @property
    def source(self) -> str:
        """Where the facts come from, in words (shown with every result)."""
        return SOURCES.get(self.name, f"Materials Project {self.mp_id} (the MP-20 entry's cell, DFT-relaxed)")


def _spec(name, symbol, number, mp_id, lattice, sites) -> BenchmarkSpec:
    return BenchmarkSpec(
        name, symbol, number, mp_id, tuple(float(v) for v in lattice), tuple(Site(*s) for s in sites)
    )


_SPECS = (
    _spec("U2Ti", "P6/mmm", 191, "mp-1709", (4.7887, 4.7887, 2.8022, 90, 90, 120), [
        ("U", "2d", (2 * _T, _T, 0.5)),
        ("Ti", "1a", (0.0, 0.0, 0.0)),
    ]),
    _spec("Au2S", "Pn-3m", 224, "mp-947", (5.3471, 5.3471, 5.3471, 90, 90, 90), [
        ("Au", "4c", (0.25, 0.25, 0.75)),
        ("S", "2a", (0.0, 0.0, 0.0)),
    ]),
    _spec("BPO4", "I-4", 82, "mp-3589", (4.3380, 4.3380, 6.6450, 90, 90, 90), [
        ("B", "2c", (0.0, 0.5, 0.25)),
        ("P", "2a", (0.0, 0.0, 0.0)),
        ("O", "8g", (0.24150, 0.63840, 0.37360)),
    ]),
    _spec("Na3MnCoNiO6", "Cm", 8, "mp-1221227", (15.6650, 3.0293, 5.6371, 90, 107.847, 90), [
        ("Na", "2a", (0.33349, 0.0, 0.99821)),
        ("Na", "2a", (0.49988, 0.5, 0.00028)),
        ("Na", "2a", (0.16797, 0.5, 0.00434)),
        ("Mn", "2a", (0.00018, 0.5, 0.49927)),
        ("Co", "2a", (0.32626, 0.5, 0.50651)),
        ("Ni", "2a", (0.16704, 0.0, 0.49420)),
        ("O", "2a", (0.42768, 0.5, 0.30992)),
        ("O", "2a", (0.08132, 0.5, 0.30172)),
        ("O", "2a", (0.25880, 0.0, 0.28918)),
        ("O", "2a", (0.07075, 0.0, 0.69453)),
        ("O", "2a", (0.25123, 0.5, 0.70857)),
        ("O", "2a", (0.41539, 0.0, 0.69327)),
    ]),
    _spec("UC2", "I4/mmm", 139, "mp-2486", (3.5193, 3.5193, 5.9656, 90, 90, 90), [
        ("U", "2a", (0.0, 0.0, 0.0)),
        ("C", "4e", (0.5, 0.5, 0.88434)),
    ]),
    _spec("PbF2", "Fm-3m", 225, "mp-315", (5.9973, 5.9973, 5.9973, 90, 90, 90), [
        ("Pb", "4a", (0.0, 0.0, 0.0)),
        ("F", "8c", (0.75, 0.25, 0.25)),
    ]),
    _spec("CsTlO", "C2/m", 12, "mp-1205877", (14.3829, 3.8834, 6.7150, 90, 106.188, 90), [
        ("Cs", "4i", (0.37667, 0.5, 0.65523)),
        ("Tl", "4i", (0.15049, 0.5, 0.86189)),
        ("O", "4i", (0.24805, 0.0, 0.79249)),
    ]),
    _spec("Ti2Sn", "P6_3/mmc", 194, "mp-30875", (4.7532, 4.7532, 5.6418, 90, 90, 120), [
        ("Ti", "2d", (2 * _T, _T, 0.25)),
        ("Ti", "2a", (0.0, 0.0, 0.0)),
        ("Sn", "2c", (2 * _T, _T, 0.75)),
    ]),
    _spec("ErPt3", "Pm-3m", 221, "mp-1913", (4.1029, 4.1029, 4.1029, 90, 90, 90), [
        ("Er", "1a", (0.0, 0.0, 0.0)),
        ("Pt", "3c", (0.0, 0.5, 0.5)),
    ]),
    _spec("Fe2SbTe3", "Pm", 6, "mp-1224691", (5.3761, 3.7431, 6.2887, 90, 90.741, 90), [
        ("Fe", "1b", (0.49573, 0.5, 0.50146)),
        ("Fe", "1a", (0.00309, 0.0, 0.99566)),
        ("Sb", "1b", (0.71674, 0.5, 0.14565)),
        ("Te", "1b", (0.28558, 0.5, 0.86099)),
        ("Te", "1a", (0.22196, 0.0, 0.35487)),
        ("Te", "1a", (0.77691, 0.0, 0.64136)),
    ]),
)

# BPO4 has no MP-20 row here: its cell and positions are experimental literature values, not MP's relaxed cell.
SOURCES = {"BPO4": "literature (experimental I-4 cell a = 4.338 Å, c = 6.645 Å; no MP-20 row; mp-3589 is the "
                   "prototype, not the source of these numbers)"}

BENCHMARKS: dict[str, BenchmarkSpec] = {s.name: s for s in _SPECS}
BENCHMARK_NAMES: tuple[str, ...] = tuple(BENCHMARKS)

# Held-out structures (not in the paper's set): six families and space groups, for checking that a method's
# gain is not tuned to the ten benchmarks. Room-temperature literature values (conventional settings).
_HELD_OUT = (
    _spec("NaCl", "Fm-3m", 225, "-", (5.6402, 5.6402, 5.6402, 90, 90, 90), [
        ("Na", "4a", (0.0, 0.0, 0.0)), ("Cl", "4b", (0.5, 0.5, 0.5))]),
    _spec("ZnO", "P6_3mc", 186, "-", (3.2496, 3.2496, 5.2065, 90, 90, 120), [
        ("Zn", "2b", (_T, 2 * _T, 0.0)), ("O", "2b", (_T, 2 * _T, 0.3819))]),
    _spec("TiO2", "P4_2/mnm", 136, "-", (4.5937, 4.5937, 2.9587, 90, 90, 90), [
        ("Ti", "2a", (0.0, 0.0, 0.0)), ("O", "4f", (0.3048, 0.3048, 0.0))]),
    _spec("ZrO2", "P2_1/c", 14, "-", (5.1505, 5.2116, 5.3173, 90, 99.23, 90), [
        ("Zr", "4e", (0.2754, 0.0395, 0.2083)), ("O", "4e", (0.0700, 0.3317, 0.3447)),
        ("O", "4e", (0.4496, 0.7569, 0.4792))]),
    _spec("Al2O3", "R-3c", 167, "-", (4.7589, 4.7589, 12.991, 90, 90, 120), [
        ("Al", "12c", (0.0, 0.0, 0.35216)), ("O", "18e", (0.30624, 0.0, 0.25))]),
    _spec("SnS", "Pnma", 62, "-", (11.180, 3.982, 4.329, 90, 90, 90), [
        ("Sn", "4c", (0.1198, 0.25, 0.1194)), ("S", "4c", (0.8508, 0.25, 0.4793))]),
)
HELD_OUT: dict[str, BenchmarkSpec] = {s.name: s for s in _HELD_OUT}
HELD_OUT_NAMES: tuple[str, ...] = tuple(HELD_OUT)
SOURCES.update({name: "literature (room-temperature structure; held out of the paper's set)" for name in HELD_OUT})
NAMED: dict[str, BenchmarkSpec] = {**BENCHMARKS, **HELD_OUT}  # every structure known by name


def family_of_spacegroup(number: int) -> str:
    """Crystal family of an International Tables space-group number (trigonal -> hexagonal)."""
    if not 1 <= int(number) <= 230:
        raise InputError(f"space group number {number} is outside 1..230")
    for upper, family in ((2, Family.TRICLINIC), (15, Family.MONOCLINIC), (74, Family.ORTHORHOMBIC),
                          (142, Family.TETRAGONAL), (194, Family.HEXAGONAL), (230, Family.CUBIC)):
        if number <= upper:
            return str(family)
    raise AssertionError("unreachable")


def crystal_family(structure: Structure) -> str:
    """Crystal family of a structure from pymatgen's crystal system (symprec 0.01); trigonal -> hexagonal."""
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # spglib deprecation chatter
        system = SpacegroupAnalyzer(structure, symprec=SYMPREC).get_crystal_system()
    return str(Family.HEXAGONAL) if system == "trigonal" else system


def canonical_name(name: str) -> str | None:
    """The spelling of a named structure (a benchmark or a held-out one; case-insensitive), or None."""
    lowered = name.strip().lower()
    for known in NAMED:
        if known.lower() == lowered:
            return known
    return None


@lru_cache(maxsize=None)
def _build_benchmark(name: str) -> Structure:
    from pymatgen.core import Lattice, Structure

    spec = NAMED[name]
    lattice = Lattice.from_parameters(*spec.lattice)
    built = Structure.from_spacegroup(
        spec.spacegroup_number,
        lattice,
        [s.species for s in spec.sites],
        [list(s.coords) for s in spec.sites],
        tol=1e-4,
    )
    return conventional_standard(built)


def benchmark_structure(name: str) -> Structure:
    """The named benchmark or held-out structure (case-insensitive) in its conventional standard cell (a
    fresh copy)."""
    known = canonical_name(name)
    if known is None:
        raise InputError(f"unknown benchmark structure {name!r}; known: {', '.join(NAMED)}")
    return _build_benchmark(known).copy()


def conventional_standard(structure: Structure) -> Structure:
    """Validated conventional standard cell of ``structure`` (SpacegroupAnalyzer, symprec 0.01)."""
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    validate_structure(structure)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # spglib deprecation chatter
            conv = SpacegroupAnalyzer(structure, symprec=SYMPREC).get_conventional_standard_structure()
    except Exception as exc:  # spglib/pymatgen failures on odd cells: rephrase for the user
        raise InputError(f"symmetry analysis failed: {_one_line(exc)}") from exc
    validate_structure(conv)
    return conv


def in_cell(structure: Structure, cell: str) -> Structure:
    """``structure`` (a conventional standard cell) in the cell ``cell`` of ``vocab.Cell``:

    * "conventional": itself;
    * "primitive": pymatgen's standard primitive cell (``get_primitive_standard_structure``, symprec 0.01);
      for the nine MP-20 benchmarks its metric equals that of the MP-20 cell up to the order and signs of
      the axes (so isotropic fractional noise has the same statistics in both);
    * "niggli": the Niggli-reduced primitive cell (shortest vectors).
    """
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    check_choice(cell, CELLS, "cell")
    if cell == Cell.CONVENTIONAL:
        return structure.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prim = SpacegroupAnalyzer(structure, symprec=SYMPREC).get_primitive_standard_structure()
        if cell == Cell.NIGGLI:
            prim = prim.get_reduced_structure("niggli")
    validate_structure(prim)
    return prim


def validate_structure(structure: Structure) -> None:
    """Raise InputError for an empty structure, NaN/inf values, non-positive volume or unknown species."""
    from pymatgen.core.periodic_table import DummySpecies

    if len(structure) == 0:
        raise InputError("structure has no sites")
    matrix = np.asarray(structure.lattice.matrix, dtype=float)
    if not np.all(np.isfinite(matrix)) or not np.all(np.isfinite(structure.frac_coords)):
        raise InputError("structure has NaN or infinite lattice or coordinate values")
    volume = float(np.linalg.det(matrix))
    if not volume > 1e-6:  # left-handed cells are degenerate for us as well
        raise InputError(f"structure has non-positive cell volume ({volume:.3g} Å^3)")
    for site in structure:
        for sp in site.species:
            if isinstance(sp, DummySpecies) or getattr(sp, "Z", 0) <= 0:
                raise InputError(f"structure contains unknown element {getattr(sp, 'symbol', str(sp))!r}")


def load_structure(path: str | Path) -> Structure:
    """Read a CIF or pymatgen-JSON structure file, validated, in its conventional standard cell.

    Raises InputError with a one-line message for a missing/unreadable file, a malformed file, unknown
    elements, NaN values or a degenerate cell.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"structure file not found: {path}")
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read structure file {path}: {_one_line(exc)}") from exc
    if path.suffix.lower() == ".json" or text.lstrip().startswith("{"):
        structure = _parse_json(text, path)
    else:
        structure = _parse_cif(text, path)
    try:
        return conventional_standard(structure)
    except InputError as exc:
        raise InputError(f"{path.name}: {exc}") from exc


def _parse_json(text: str, path: Path) -> Structure:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path.name}: malformed JSON ({exc.msg} at line {exc.lineno})") from exc
    if not isinstance(data, dict) or "lattice" not in data or "sites" not in data:
        raise InputError(f"{path.name}: not a pymatgen Structure JSON (no lattice and sites)")
    try:
        return structure_from_dict(data)
    except Exception as exc:
        raise InputError(f"{path.name}: not a pymatgen Structure JSON ({_one_line(exc)})") from exc


def structure_from_dict(data: dict) -> Structure:
    """A Structure from pymatgen's dict form, importing nothing the data names.

    pymatgen decodes site properties with monty's decoder, which imports whatever module a
    ``{"@module": ..., "@class": ...}`` names and builds objects from it: data would run code. Every
    ``@``-key is dropped first (the structure needs none of them), so properties stay plain values.
    """
    from pymatgen.core import Structure

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Structure.from_dict(_without_monty_keys(data))


def _without_monty_keys(value):
    if isinstance(value, dict):
        return {k: _without_monty_keys(v) for k, v in value.items() if not (isinstance(k, str) and k.startswith("@"))}
    if isinstance(value, list):
        return [_without_monty_keys(v) for v in value]
    return value


CELL_KEYS = ("_cell_length_a", "_cell_length_b", "_cell_length_c", "_cell_angle_alpha", "_cell_angle_beta",
             "_cell_angle_gamma")


def _cif_problem(text: str) -> str | None:
    """What is wrong with a CIF pymatgen could not read, in the user's terms (missing or impossible cell,
    no atom sites), or None when it is something else. The cell's volume factor
    V/(abc) = sqrt(1 − cos²α − cos²β − cos²γ + 2 cosα cosβ cosγ) must be real and positive."""
    import math

    from pymatgen.io.cif import CifFile

    try:
        blocks = list(CifFile.from_str(text).data.values())
    except Exception:
        return "not CIF text: no data_ block could be read"
    if not blocks:
        return "no data_ block: the file is empty or truncated"
    data = blocks[0].data
    missing = [k for k in CELL_KEYS if k not in data]
    if missing:
        return f"missing {', '.join(missing)}: the file is incomplete or truncated"
    try:
        values = [float(str(data[k]).split("(")[0]) for k in CELL_KEYS]
    except ValueError:
        return "cell parameters are not numbers"
    if not all(math.isfinite(v) for v in values):
        return f"cell parameters must be finite numbers, got {', '.join(f'{v:g}' for v in values)}"
    a, b, c, al, be, ga = values
    if min(a, b, c) <= 0:
        return f"cell lengths must be positive, got {a:g}, {b:g}, {c:g} A"
    cos = [math.cos(math.radians(x)) for x in (al, be, ga)]
    v2 = 1 - sum(x * x for x in cos) + 2 * cos[0] * cos[1] * cos[2]
    if not all(0 < x < 180 for x in (al, be, ga)) or v2 <= 1e-8:
        return f"cell angles {al:g}, {be:g}, {ga:g} deg describe no cell (zero or imaginary volume)"
    if not any(k.startswith("_atom_site_fract_") or k.startswith("_atom_site_cartn_") for k in data):
        return "no atom sites (_atom_site_fract_x ...): the file is incomplete or truncated"
    return None


def _parse_cif(text: str, path: Path) -> Structure:
    from pymatgen.io.cif import CifParser

    parser = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pymatgen's CIF warnings are noise for users
            parser = CifParser.from_str(text)
            structures = parser.parse_structures(primitive=False, on_error="ignore")
    except Exception as exc:
        # pymatgen's own reason ("no structures") hides the cause; its first parse warning names it
        notes = list(getattr(parser, "warnings", []) or [])
        reason = _cif_problem(text) or (_one_line(exc) + (f"; {_one_line(Exception(notes[0]))}" if notes else ""))
        raise InputError(f"{path.name}: cannot parse CIF ({reason})") from exc
    if not structures:
        raise InputError(f"{path.name}: CIF contains no structure")
    return structures[0]


def resolve_structure(name_or_path: str | Path) -> tuple[str, Structure]:
    """A benchmark name (case-insensitive) or a structure file path -> (name, Structure).

    For a file, the name is the file stem; it seeds the distortions (see noise.distortion_rng).
    """
    text = str(name_or_path)
    known = canonical_name(text)
    if known is not None:
        return known, benchmark_structure(known)
    path = Path(text)
    if path.is_file():
        return path.stem, load_structure(path)
    raise InputError(
        f"{text!r} is neither a named structure ({', '.join(NAMED)}) nor an existing file"
    )


def lattice_params(structure: Structure) -> np.ndarray:
    """(a, b, c, alpha, beta, gamma) of the structure's lattice: ångström, degrees; float64 [6]."""
    return np.array(structure.lattice.parameters, dtype=np.float64)


def frac_coords(structure: Structure) -> np.ndarray:
    """Fractional coordinates [N, 3] (float64), wrapped into [0, 1)."""
    frac = np.mod(np.asarray(structure.frac_coords, dtype=np.float64), 1.0)
    return np.where(frac >= 1.0, 0.0, frac)  # mod can round up to exactly 1.0


def with_params(structure: Structure, lattice6, frac=None) -> Structure:
    """New Structure with lattice parameters ``lattice6`` (Å, degrees) and optional fractional coords
    [N, 3]; species and occupancies are those of ``structure``. Raises InputError for bad values.
    """
    from pymatgen.core import Lattice, Structure

    params = np.asarray(lattice6, dtype=np.float64).reshape(-1)
    if params.shape != (6,) or not np.all(np.isfinite(params)):
        raise InputError("lattice parameters must be 6 finite numbers (a, b, c, alpha, beta, gamma)")
    coords = frac_coords(structure) if frac is None else np.asarray(frac, dtype=np.float64)
    if coords.shape != (len(structure), 3):
        raise InputError(f"expected fractional coordinates of shape ({len(structure)}, 3), got {coords.shape}")
    if not np.all(np.isfinite(coords)):
        raise InputError("fractional coordinates contain NaN or infinite values")
    try:
        lattice = Lattice.from_parameters(*params)
    except Exception as exc:
        raise InputError(f"invalid lattice parameters {params.round(4).tolist()}: {_one_line(exc)}") from exc
    if not (lattice.volume > 1e-6 and math.isfinite(lattice.volume)):
        raise InputError(f"lattice parameters {params.round(4).tolist()} give no positive volume")
    return Structure(lattice, [site.species for site in structure], coords)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:200]
