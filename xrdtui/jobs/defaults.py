"""The paper's optimiser, used by an experiment whose ``[optimizer]`` table names no ``method``.

Section 2 runs plain projected gradient descent, theta <- P(theta - grad L), "until some convergence
criterion is satisfied", with no stated step size. The steps below are the ones ``xrdtui.jobs.calibrate``
chose by its stated rule (the largest 10^(k/4) at which one step lowers the loss for >= 95 % of members at
sigma = 0.01; 10 benchmark structures x 16 members, float64 profiles; ``benchmarks/calibrate_gd.py``,
measured 2026-12-01). The presets repeat them explicitly; a test keeps both equal.

Naming ``method`` (e.g. ``method = "adam"``) opts out of this layer: the engine's defaults for that update
rule apply (``xrdtui.engine.optimize.OptimizerSettings``).
"""

from __future__ import annotations

from typing import Any

# per objective (a loss, or a method whose objective adds a term to its loss): step for lengths (Å² per
# objective unit), angles (degrees² per objective unit), fractional coordinates
CALIBRATED_STEPS: dict[str, dict[str, float]] = {
    "cosine": {"lr_length": 0.0056234, "lr_angle": 1.7783, "lr_coords": 0.031623},
    "mse": {"lr_length": 3.1623e-05, "lr_angle": 0.01, "lr_coords": 0.00017783},
    "entropy": {"lr_length": 0.01, "lr_angle": 5.6234, "lr_coords": 0.031623},
    "xcorr": {"lr_length": 0.031623, "lr_angle": 31.623, "lr_coords": 0.056234},
    # cosine + 10 x CHGNet energy per atom, searched down from the cosine steps (benchmarks/calibrate_gd.py
    # --objective xrd-energy, 2026-12-02): the energy's stiff coordinate modes need a step 178x below cosine's
    # (at cosine's own, one step raised the objective for most coordinate-noise members: 0/40 matched)
    "xrd-energy": {"lr_length": 0.0031623, "lr_angle": 1.7783, "lr_coords": 0.00017783},
}

# constant steps; stop when the loss improved by < 1e-4 (relative) over the last 20 steps, or at 1000
PAPER_OPTIMIZER: dict[str, Any] = {"method": "gd", "schedule": "constant", "convergence": "window", "tol": 1e-4,
                                   "patience": 20, "max_steps": 1000}


def calibrated_steps(method: str | None) -> dict[str, float]:
    """The calibrated steps of ``method``'s objective: its own where it has them (a loss plus a penalty),
    else its loss's; the cosine steps for a method without a loss (the relaxation) or no method."""
    if method is None:
        return CALIBRATED_STEPS["cosine"]
    if method in CALIBRATED_STEPS:
        return CALIBRATED_STEPS[method]
    from xrdtui.methods import get_method

    return CALIBRATED_STEPS.get(get_method(method).similarity or "cosine", CALIBRATED_STEPS["cosine"])


def paper_optimizer(method: str | None) -> dict[str, Any]:
    """The paper's optimiser keys for ``method`` with its objective's calibrated steps."""
    return {**PAPER_OPTIMIZER, **calibrated_steps(method)}
