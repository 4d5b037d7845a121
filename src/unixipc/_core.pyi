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

# ---- netdb ----------------------------------------------------------------

# ---- sock -----------------------------------------------------------------
