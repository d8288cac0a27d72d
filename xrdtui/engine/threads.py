"""Torch on one intra-op thread for small batched work (a descent's few cells, a report's start patterns, an
explorer slice). On the 2-core machine extra intra-op threads only contend with the other process or the UI:
three U2Ti descent paths took 7.6 s on one thread vs 43 s on two under load, the report's start patterns 13.6 s
vs 48.9 s, a 101x101 explorer slice 2.5 s vs 6.8 s while the app was drawing."""

from __future__ import annotations

import threading
from contextlib import contextmanager

_LOCK = threading.Lock()
_USERS = [0, 0]  # [callers inside one_torch_thread, torch's thread count before the first entered]


@contextmanager
def one_torch_thread():
    """Torch on one thread inside; the count before the first caller entered is restored when the last one
    leaves, so overlapping callers (threads) never leave a wrong count behind."""
    import torch

    with _LOCK:
        if _USERS[0] == 0:
            _USERS[1] = torch.get_num_threads()
            torch.set_num_threads(1)
        _USERS[0] += 1
    try:
        yield
    finally:
        with _LOCK:
            _USERS[0] -= 1
            if _USERS[0] == 0:
                torch.set_num_threads(_USERS[1])
