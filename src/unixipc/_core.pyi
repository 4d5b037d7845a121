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
AI_PASSIVE: int
AI_CANONNAME: int
AI_NUMERICHOST: int
AI_NUMERICSERV: int
AI_V4MAPPED: int
AI_ALL: int
AI_ADDRCONFIG: int
NI_NUMERICHOST: int
NI_NUMERICSERV: int
NI_NOFQDN: int
NI_NAMEREQD: int
NI_DGRAM: int
EAI_AGAIN: int
EAI_BADFLAGS: int
EAI_FAIL: int
EAI_FAMILY: int
EAI_MEMORY: int
EAI_NONAME: int
EAI_SERVICE: int
EAI_SOCKTYPE: int
EAI_SYSTEM: int
EAI_OVERFLOW: int

_ServEnt = tuple[str, tuple[str, ...], int, str]
_ProtoEnt = tuple[str, tuple[str, ...], int]
_NetEnt = tuple[str, tuple[str, ...], int, int]
_HostEnt = tuple[str, tuple[str, ...], int, tuple[str, ...]]
_SockAddr = tuple[str, int] | tuple[str, int, int, int] | tuple[int]

def getservent() -> list[_ServEnt]: ...
def getprotoent() -> list[_ProtoEnt]: ...
def getnetent() -> list[_NetEnt]: ...
def gethostent() -> list[_HostEnt]: ...
def getservbyname_r(name: str, proto: str | None, /) -> _ServEnt | None: ...
def getservbyport_r(port: int, proto: str | None, /) -> _ServEnt | None: ...
def getprotobyname_r(name: str, /) -> _ProtoEnt | None: ...
def getprotobynumber_r(number: int, /) -> _ProtoEnt | None: ...
def getnetbyname_r(name: str, /) -> _NetEnt | None: ...
def getnetbyaddr_r(net: int, type: int, /) -> _NetEnt | None: ...
def getaddrinfo(host: str | None, service: str | None, family: int, type: int,
                protocol: int, flags: int, /
                ) -> tuple[int, int, list[tuple[int, int, int, str | None, _SockAddr]]]: ...
def getnameinfo(host: str, port: int, flowinfo: int, scope_id: int, flags: int, /
                ) -> tuple[int, int, str, str]: ...
def gai_strerror(code: int, /) -> str: ...

# ---- sock -----------------------------------------------------------------
