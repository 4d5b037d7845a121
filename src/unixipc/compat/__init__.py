"""Drop-in layers for code written against other IPC packages.

``import unixipc.compat.sysv_ipc as sysv_ipc`` gives code written for the
sysv_ipc package (1.2.0) the same names with the same meaning, over
unixipc's own classes; see docs/migrating.md for every difference between
the native API and that package, and for what the layer fixes.
"""

from __future__ import annotations

__all__ = ["sysv_ipc"]
