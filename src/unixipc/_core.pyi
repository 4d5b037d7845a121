"""Type stub for the C core, unixipc._core. Functions are named after the
system calls they wrap; the public API is in the Python modules."""

from typing import Any, Sequence

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
from typing_extensions import Buffer as _Buffer, disjoint_base as _disjoint_base

MSG_NOERROR: int
MSG_EXCEPT: int
MSG_COPY: int
MSG_STAT: int
MSG_INFO: int
MSG_STAT_ANY: int
MSG_RECEIVE_DIRECT: int

@_disjoint_base
class MessageQueueBase:
    """The C part of unixipc.MessageQueue: send and receive on a queue id."""

    _msqid: int
    def send(self, data: _Buffer, type: int = 1, *, block: bool = True,
             timeout: float | None = None, _cancel: bytearray | None = None) -> None: ...
    def receive(self, type: int = 0, *, block: bool = True, timeout: float | None = None,
                max_size: int | None = None, truncate: bool = False,
                exclude: bool = False, _cancel: bytearray | None = None) -> Any: ...
    def send_many(self, messages: Sequence[_Buffer | tuple[int, _Buffer]], type: int = 1, *,
                  block: bool = True, timeout: float | None = None) -> int: ...
    def receive_many(self, max_count: int, type: int = 0, *, block: bool = True,
                     timeout: float | None = None, max_size: int | None = None,
                     truncate: bool = False, exclude: bool = False) -> list[Any]: ...
    def _peek(self, index: int = 0, *, max_size: int | None = None) -> Any: ...

def msgget(key: int, flags: int, /) -> int: ...
def msgctl_stat(msqid: int, /) -> dict[str, int]: ...
def msgctl_set(msqid: int, mode: int, uid: int, gid: int, qbytes: int, /) -> None: ...
def msgctl_rmid(msqid: int, /) -> None: ...
def msgctl_info(cmd: int, /) -> tuple[int, dict[str, int]]: ...
def msgctl_msg_stat(index: int, any: bool, /) -> tuple[int, dict[str, int]]: ...
def _msg_set_message_type(cls: type[tuple[Any, ...]], /) -> None: ...
def _msg_receive_direct(on: bool, /) -> bool: ...
def _msg_receive_eager(on: bool, /) -> bool: ...
def _msg_cancel_signal() -> int: ...

# ---- sem ------------------------------------------------------------------

# ---- shm ------------------------------------------------------------------

# ---- pipe -----------------------------------------------------------------

# ---- netdb ----------------------------------------------------------------

# ---- sock -----------------------------------------------------------------
