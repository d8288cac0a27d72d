"""``xrdtui refine``: candidate structures refined against a target structure or a measured powder pattern
with the study's simulator, a registry method and a store of kind "refinement" (see ``workflow``).

The defaults live here, free of heavy imports, so the CLI can show them in ``--help`` without loading numpy.
"""

DEFAULT_METHOD = "multistart"  # measured best on lattice noise in the beyond presets (examples/beyond*.toml)
DEFAULT_WAVELENGTH = 1.5406  # Å, Cu Kα1 (the study's)
DEFAULT_LEVEL = 0.05  # expected size of the candidate's error: multistart's box (relative strain)
DEFAULT_SYMPREC = 0.1  # Å: the loose tolerance of a candidate's symmetry (the project's analyses use 0.01)
DEFAULT_BACKGROUND_WINDOW = 3.0  # degrees 2θ: SNIP's largest clipping half-window
# The optimiser a refinement runs unless [optimizer] names one: Adam with the engine's measured defaults
# (engine.optimize.OptimizerSettings). The paper's constant-step GD stops on a shoulder: on a strained rutile
# candidate (tests/test_refine.py's) it ended at cosine 0.85 after 23 steps, Adam at 1.0000 (239 steps).
DEFAULT_OPTIMIZER = {"method": "adam"}
