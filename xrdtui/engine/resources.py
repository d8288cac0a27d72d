"""How much memory the simulator will need, estimated before it allocates, so that a huge cell or batch is
refused with one line instead of ending in MemoryError (or the kernel's OOM killer).

Counts (template cell with lengths a_i, volume V, cut g_max = (1 + X)·2 sin(θ_cut)/λ in Å⁻¹):

* enumeration box  n_box = Π_i (2⌊g_max a_i⌋ + 1) integer triples, ~``ENUM_BYTES_PER_HKL`` bytes each while
  they are filtered (three int64 index arrays, a mask, the Friedel half, 1/d²);
* reflections      R ≈ ½ · (4π/3) g_max³ · V (one of each Friedel pair inside the sphere);
* one pattern call with gradients for a batch of B members, E elements and N sites keeps about
  B·R·(4E + 2N + 12) numbers of 4 bytes for the backward pass (form factors and their derivatives, the
  element phase sums, cos/sin per site, and ~12 per-reflection rows), times ``WORKSPACE`` for temporaries.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

ENUM_BYTES_PER_HKL = 64
WORKSPACE = 2.0
DEFAULT_FRACTION = 0.5  # of the memory available now, when XRDTUI_MEMORY_GB is not set


@dataclass(frozen=True)
class MemoryEstimate:
    reflections: int
    enumeration_bytes: int
    call_bytes: int  # one batched pattern call with gradients

    @property
    def peak_bytes(self) -> int:
        return max(self.enumeration_bytes, self.call_bytes)


def g_max(wavelength: float, two_theta_cut: float, strain_margin: float) -> float:
    """The enumeration cut (Å⁻¹): g_max = (1 + X) · 2 sin(θ_cut) / λ."""
    return (1.0 + strain_margin) * 2.0 * math.sin(math.radians(two_theta_cut / 2.0)) / wavelength


def estimate(lengths, volume: float, *, wavelength: float, two_theta_cut: float, strain_margin: float,
             n_sites: int, n_elements: int, batch: int) -> MemoryEstimate:
    """The counts of the module docstring for one template cell (lengths in Å, volume in Å³)."""
    g = g_max(wavelength, two_theta_cut, strain_margin)
    box = 1
    for a in lengths:
        box *= 2 * math.floor(g * float(a)) + 1
    reflections = int(0.5 * 4.0 / 3.0 * math.pi * g ** 3 * float(volume))
    return MemoryEstimate(reflections, int(box * ENUM_BYTES_PER_HKL),
                          call_bytes(batch, reflections, n_elements=n_elements, n_sites=n_sites))


def call_bytes(batch: int, reflections: int, *, n_elements: int, n_sites: int) -> int:
    """Bytes of one pattern call with gradients: WORKSPACE · 4 B · B · R · (4E + 2N + 12)."""
    return int(WORKSPACE * 4 * batch * reflections * (4 * n_elements + 2 * n_sites + 12))


def memory_budget() -> int:
    """Bytes the simulator may use: ``XRDTUI_MEMORY_GB`` if set, else half of the memory available now
    (Linux MemAvailable; the physical memory elsewhere)."""
    env = os.environ.get("XRDTUI_MEMORY_GB")
    if env:
        try:
            return int(float(env) * 2 ** 30)
        except ValueError:
            pass
    available = None
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    available = int(line.split()[1]) * 1024
                    break
    except OSError:
        pass
    if available is None:
        available = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return int(DEFAULT_FRACTION * available)


def gib(n: int) -> str:
    return f"{n / 2 ** 30:.3g} GiB"
