"""Where the tensors of a run live: ``"cpu"`` (the default, never changed behind the user's back),
``"cuda"`` or ``"cuda:N"``.

The simulator, the descent loop and CHGNet take a torch device; this module names the ones a user may
ask for and checks, before any work starts, that torch can actually use the one asked for, so a run on a
machine without a GPU stops with one line instead of failing task after task.
"""

from __future__ import annotations

import re

from xrdtui.errors import ConfigError

CPU = "cpu"
_NAME = re.compile(r"^(cpu|cuda(:\d+)?)$")


def check_device_name(name: str) -> str:
    """``name`` if it is a device this tool can run on (cpu, cuda, cuda:N), else ConfigError. Does not
    import torch (configuration is checked before the workers start)."""
    if not isinstance(name, str) or not _NAME.match(name.strip().lower()):
        raise ConfigError(f"device: expected cpu, cuda or cuda:N, got {name!r}")
    return name.strip().lower()


def require_device(name: str) -> str:
    """``check_device_name`` and, for a CUDA device, that torch sees it (ConfigError otherwise)."""
    name = check_device_name(name)
    if name == CPU:
        return name
    import torch

    if not torch.cuda.is_available():
        why = "this torch is a CPU build" if torch.version.cuda is None else "no CUDA device is visible"
        raise ConfigError(f"device {name}: torch cannot use CUDA here ({why}); run with --device cpu")
    index = int(name.split(":")[1]) if ":" in name else 0
    if index >= torch.cuda.device_count():
        raise ConfigError(f"device {name}: torch sees {torch.cuda.device_count()} CUDA device(s)")
    return name
