"""unixipc: every Unix IPC mechanism, complete, correct and fast.

The public surface is re-exported here from one private module per mechanism;
``unixipc.netdb`` and ``unixipc.sockets`` are submodules of their own.
See the project's docs/ for one page per mechanism.
"""

from __future__ import annotations

from . import errors, keys, msgqueue, semaphore, shm, pipe, fifo, coprocess
from . import netdb, sockets, shmch, queues
from .errors import *
from .keys import *
from .msgqueue import *
from .semaphore import *
from .shm import *
from .pipe import *
from .fifo import *
from .coprocess import *
from .shmch import *
from .queues import *

__version__ = "0.1.0"

__all__ = ["netdb", "sockets"]
__all__ += errors.__all__
__all__ += keys.__all__
__all__ += msgqueue.__all__
__all__ += semaphore.__all__
__all__ += shm.__all__
__all__ += pipe.__all__
__all__ += fifo.__all__
__all__ += coprocess.__all__
__all__ += shmch.__all__
__all__ += queues.__all__
