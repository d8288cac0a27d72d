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

# per loss: step for lengths (Å² per loss unit), angles (degrees² per loss unit), fractional coordinates
CALIBRATED_STEPS: dict[str, dict[str, float]] = {
    "cosine": {"lr_length": 0.0056234, "lr_angle": 1.7783, "lr_coords": 0.031623},
    "mse": {"lr_length": 3.1623e-05, "lr_angle": 0.01, "lr_coords": 0.00017783},
    "entropy": {"lr_length": 0.01, "lr_angle": 5.6234, "lr_coords": 0.031623},
    "xcorr": {"lr_length": 0.031623, "lr_angle": 31.623, "lr_coords": 0.056234},
}

# constant steps; stop when the loss improved by < 1e-4 (relative) over the last 20 steps, or at 1000
PAPER_OPTIMIZER: dict[str, Any] = {"method": "gd", "schedule": "constant", "convergence": "window", "tol": 1e-4,
                                   "patience": 20, "max_steps": 1000}


def paper_optimizer(method: str | None) -> dict[str, Any]:
    """The paper's optimiser keys for ``method`` (its loss's calibrated steps; the cosine steps for a method
    without its own, e.g. the relaxation, or when no method is given)."""
    loss = "cosine"
    if method is not None:
        from xrdtui.methods import get_method

        loss = get_method(method).similarity or "cosine"
    return {**PAPER_OPTIMIZER, **CALIBRATED_STEPS.get(loss, CALIBRATED_STEPS["cosine"])}
