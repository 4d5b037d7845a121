"""Type stub for the C core, unixipc._core. Functions are named after the
system calls they wrap; the public API is in the Python modules."""

# ---- module / keys --------------------------------------------------------
IPC_PRIVATE: int
IPC_CREAT: int
IPC_EXCL: int
IPC_NOWAIT: int
IPC_RMID: int
IPC_SET: int
IPC_STAT: int
IPC_INFO: int

def ftok(path: str | bytes, proj_id: int, /) -> int: ...

# ---- errors ---------------------------------------------------------------
def _set_error_table(table: dict[int, type[OSError]], /) -> None: ...
def _raise_errno(syscall: str, errno: int, /) -> None: ...

# ---- blocking -------------------------------------------------------------
TIMER_SIGNAL: int

def _pause(timeout: float | None, /) -> None: ...

# ---- msg ------------------------------------------------------------------

# ---- sem ------------------------------------------------------------------

# ---- shm ------------------------------------------------------------------

# ---- pipe -----------------------------------------------------------------
from typing_extensions import Buffer as _Buffer, disjoint_base as _disjoint_base  # noqa: E402
import os as _os  # noqa: E402

PIPE_BUF: int

def write(fd: int, data: _Buffer, block: bool = True, timeout: float | None = None) -> int: ...
def read(fd: int, size: int, block: bool = True, timeout: float | None = None) -> bytes: ...
@_disjoint_base
class PipeEnd:
    def __init__(self, fd: int, /) -> None: ...
    @property
    def closed(self) -> bool: ...
    def read(self, size: int | None = -1, /, *, block: bool = True,
             timeout: float | None = None) -> bytes: ...
    def write(self, data: _Buffer, /, *, block: bool = True,
              timeout: float | None = None) -> int: ...
    def fileno(self) -> int: ...
    def _close_fd(self) -> None: ...
    def _detach_fd(self) -> int: ...

def open_fifo(path: str | bytes | _os.PathLike[str] | _os.PathLike[bytes], flags: int,
              timeout: float | None = None, dir_fd: int | None = None) -> int | None: ...

# ---- netdb ----------------------------------------------------------------

# ---- sock -----------------------------------------------------------------
