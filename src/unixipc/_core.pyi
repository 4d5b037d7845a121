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
from collections.abc import Iterable as _Iterable

from _typeshed import ReadableBuffer as _Buffer
from typing import Any as _Any

from typing_extensions import disjoint_base as _disjoint_base

from unixipc.msgqueue import Message as _Message

MSG_NOERROR: int
MSG_EXCEPT: int
MSG_COPY: int
MSG_STAT: int
MSG_STAT_ANY: int
MSG_INFO: int

@_disjoint_base
class MessageQueueBase:
    def __init__(self, *args: _Any, **kwargs: _Any) -> None: ...
    @property
    def id(self) -> int: ...
    def _bind(self, msqid: int, /) -> None: ...
    def send(self, data: _Buffer, type: int = 1, *, block: bool = True,
             timeout: float | None = None) -> None: ...
    def receive(self, type: int = 0, *, block: bool = True, timeout: float | None = None,
                max_size: int | None = None, truncate: bool = False,
                exclude: bool = False) -> _Message: ...
    def send_many(self, messages: _Iterable[_Buffer | tuple[int, _Buffer]], type: int = 1, *,
                  block: bool = True, timeout: float | None = None) -> int: ...
    def receive_many(self, max_count: int, type: int = 0, *, block: bool = True,
                     timeout: float | None = None, max_size: int | None = None,
                     truncate: bool = False, exclude: bool = False) -> list[_Message]: ...
    def peek(self, index: int, max_size: int | None = None) -> _Message: ...

def msgget(key: int, flags: int, /) -> int: ...
def msgctl_stat(msqid: int, /) -> dict[str, int]: ...
def msgctl_set(msqid: int, uid: int, gid: int, mode: int, max_bytes: int, /) -> None: ...
def msgctl_rmid(msqid: int, /) -> None: ...
def msg_info(which: int, /) -> dict[str, int]: ...
def msg_stat(index: int, /) -> tuple[int, dict[str, int]]: ...
def _msg_set_message_type(cls: type[tuple[_Any, ...]], /) -> None: ...

# ---- sem ------------------------------------------------------------------

# ---- shm ------------------------------------------------------------------

# ---- pipe -----------------------------------------------------------------

# ---- netdb ----------------------------------------------------------------

# ---- sock -----------------------------------------------------------------
