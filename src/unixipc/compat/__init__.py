"""Drop-in layers for code written against other IPC packages.

``import unixipc.compat.sysv_ipc as sysv_ipc`` and ``import
unixipc.compat.posix_ipc as posix_ipc`` give code written for the sysv_ipc
(1.2.0) and posix_ipc (1.3.2) packages the same names with the same
meaning, over unixipc's own classes; see docs/migrating.md for every
difference between the native API and those packages, and for what the
layers fix.
"""

from __future__ import annotations

__all__ = ["sysv_ipc", "posix_ipc"]
