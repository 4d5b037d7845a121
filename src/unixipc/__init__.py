"""unixipc: every Unix IPC mechanism, complete, correct and fast.

The public surface is re-exported here from one private module per mechanism;
``unixipc.netdb``, ``unixipc.sockets`` and ``unixipc.posix`` are submodules
of their own.
See the project's docs/ for one page per mechanism.
"""

from __future__ import annotations

from . import errors, keys, msg, sem, shm, pipe, fifo, coproc
from . import netdb, sockets, shmch, queue, posix
from .errors import *
from .keys import *
from .msg import *
from .sem import *
from .shm import *
from .pipe import *
from .fifo import *
from .coproc import *
from .shmch import *
from .queue import *

__version__ = "0.1.0"

__all__ = ["netdb", "sockets", "posix"]
__all__ += errors.__all__
__all__ += keys.__all__
__all__ += msg.__all__
__all__ += sem.__all__
__all__ += shm.__all__
__all__ += pipe.__all__
__all__ += fifo.__all__
__all__ += coproc.__all__
__all__ += shmch.__all__
__all__ += queue.__all__
