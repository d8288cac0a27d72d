"""Candidate structures of a refinement: files or folders of CIF / pymatgen JSON, each put into the
conventional setting of the symmetry it has at a loose tolerance, without symmetrising it.

Why a setting: the crystal-family projectors (``engine.projectors``) are written for conventional cells
(tetragonal: a = b with c the unique axis, ...). A strained candidate (a generative model's output) has
lower symmetry at the project's tolerance (0.01 Å), so its standard cell can list the axes in any order.
At a loose tolerance (``symprec``, 0.1 Å by default) spglib finds the symmetry it is close to, and its
transformation to that group's conventional setting, (a_s b_s c_s) = (a b c) P⁻¹ and x_s = P x + p
(spglib's ``transformation_matrix`` P and ``origin_shift`` p), is applied to the candidate *as it is*: the
lattice keeps its strain and the sites their positions (spglib's idealised ``std_lattice`` is not used;
symmetrising is left to the refinement method's projection). A candidate given as a supercell of its
primitive cell (P⁻¹ not integer) is reduced to its primitive cell first.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from xrdtui.errors import InputError
from xrdtui.refine import DEFAULT_SYMPREC
from xrdtui.refine.pattern_file import is_pattern_file

STRUCTURE_SUFFIXES = (".cif", ".json")
_LABEL_BAD = re.compile(r"[^A-Za-z0-9_.+()=,@#%-]+")


@dataclass(frozen=True)
class Candidate:
    """One candidate: ``label`` (unique; its task name), ``path``, ``structure`` in the conventional setting
    of its loose symmetry, and that symmetry (``spacegroup_number``, ``spacegroup_symbol``, ``family``,
    at ``symprec``)."""

    label: str
    path: Path
    structure: Any
    spacegroup_number: int
    spacegroup_symbol: str
    family: str
    symprec: float


def candidate_files(paths) -> list[Path]:
    """The structure files named by ``paths`` (files, or folders whose *.cif / *.json files are taken in
    name order); InputError for a missing path, a folder without structures or a pattern file."""
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in STRUCTURE_SUFFIXES)
            if not found:
                raise InputError(f"candidate folder {path} holds no .cif or .json file")
            files.extend(found)
        elif path.is_file():
            if is_pattern_file(path):
                raise InputError(f"candidate {path.name} is a pattern file; patterns go to --target")
            files.append(path)
        else:
            raise InputError(f"candidate not found: {path}")
    if not files:
        raise InputError("no candidate structures given")
    return files


def unique_labels(files: list[Path]) -> list[str]:
    """Task names from file stems (characters a store path cannot hold become '_'; repeats get -2, -3)."""
    labels, seen = [], {}
    for f in files:
        base = _LABEL_BAD.sub("_", f.stem).strip("._") or "candidate"
        seen[base] = seen.get(base, 0) + 1
        labels.append(base if seen[base] == 1 else f"{base}-{seen[base]}")
    return labels


def load_candidates(paths, symprec: float = DEFAULT_SYMPREC) -> list[Candidate]:
    """Every candidate of ``paths`` (see :func:`candidate_files`) loaded, validated and in its loose setting."""
    from xrdtui.engine.structures import load_structure

    if not (symprec > 0 and np.isfinite(symprec)):
        raise InputError(f"symprec must be a positive number of ångström, got {symprec!r}")
    files = candidate_files(paths)
    out = []
    for label, path in zip(unique_labels(files), files):
        structure = load_structure(path)
        try:
            setting, number, symbol = conventional_setting(structure, symprec)
        except InputError as exc:
            raise InputError(f"{path.name}: {exc}") from None
        out.append(Candidate(label, path, setting, number, symbol, family_of(number), symprec))
    return out


def family_of(number: int) -> str:
    from xrdtui.engine.structures import family_of_spacegroup

    return family_of_spacegroup(number)


def conventional_setting(structure, symprec: float):
    """(``structure`` in the conventional setting of its space group at ``symprec``, not symmetrised;
    the group's number; its symbol). See the module docstring."""
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    from xrdtui.engine.structures import validate_structure

    for attempt in range(2):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                data = SpacegroupAnalyzer(structure, symprec=symprec).get_symmetry_dataset()
            except Exception as exc:  # spglib failures on odd cells
                raise InputError(f"symmetry analysis at symprec {symprec} failed: {' '.join(str(exc).split())}")
        inverse = np.linalg.inv(np.asarray(data.transformation_matrix, dtype=np.float64))
        if np.allclose(inverse, np.rint(inverse), atol=1e-6):
            break
        if attempt:
            raise InputError(f"no integer transformation to the conventional cell of space group {data.number}")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            structure = structure.get_primitive_structure(tolerance=symprec)
    setting = structure.copy()
    # pymatgen's rows: new lattice = S · old with S = (P⁻¹)ᵀ, i.e. (a_s b_s c_s) = (a b c) P⁻¹
    setting.make_supercell(np.rint(inverse).T.astype(int))
    shift = np.asarray(data.origin_shift, dtype=np.float64)
    setting.translate_sites(list(range(len(setting))), shift, frac_coords=True, to_unit_cell=True)
    validate_structure(setting)
    return setting, int(data.number), str(data.international)
