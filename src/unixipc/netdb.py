"""Network databases: hosts, networks, protocols, services, getaddrinfo.

Everything goes through the C library, so ``/etc/nsswitch.conf`` is
honoured. Enumerations (:func:`hosts`, :func:`networks`, :func:`protocols`,
:func:`services`) walk the whole database in one C call with the glibc
reentrant ``get*ent_r`` functions while holding a per-database lock from
``set*ent`` to ``end*ent`` (the enumeration position is process-global even
with the ``_r`` variants), so concurrent enumerations in several threads each
see the whole database. Lookups use the ``*_r`` functions and are
thread-safe. A lookup that finds nothing raises :class:`NotFoundError`.
"""

from __future__ import annotations

import enum
import socket as _socket
from dataclasses import dataclass
from typing import Iterator, Union

from . import _core
from .errors import error_from_errno

__all__ = [
    "NotFoundError", "AddressInfoError", "AddressNotFoundError",
    "Host", "Network", "Protocol", "Service", "AddressInfo", "NameInfo",
    "AddressInfoFlags", "NameInfoFlags",
    "hosts", "networks", "protocols", "services",
    "network_by_name", "network_by_address", "protocol_by_name", "protocol_by_number",
    "service_by_name", "service_by_port", "address_info", "name_info", "gai_strerror",
    "htons", "htonl", "ntohs", "ntohl", "inet_ntop", "inet_pton",
]

# Byte order and address text conversion, re-exported for completeness.
htons = _socket.htons
htonl = _socket.htonl
ntohs = _socket.ntohs
ntohl = _socket.ntohl
inet_ntop = _socket.inet_ntop
inet_pton = _socket.inet_pton


class NotFoundError(LookupError):
    """A database lookup found no entry (``service_by_name("nope")``)."""


class AddressInfoError(_socket.gaierror):
    """getaddrinfo/getnameinfo failed: ``errno`` is the EAI_* code and the
    message is :func:`gai_strerror` of it (for EAI_SYSTEM, the errno's text).
    A subclass of :class:`socket.gaierror`, so existing handlers catch it."""


class AddressNotFoundError(AddressInfoError, NotFoundError):
    """getaddrinfo/getnameinfo found nothing: EAI_NONAME (no such host, or
    no name for an address with NI_NAMEREQD), EAI_SERVICE (no such service
    for the socket type) or EAI_NODATA. Both a :class:`socket.gaierror` and
    a :class:`NotFoundError` (LookupError), like the database lookups."""


_NOT_FOUND_CODES = frozenset(c for c in (_core.EAI_NONAME, _core.EAI_SERVICE,
                                         getattr(_socket, "EAI_NODATA", None))
                             if c is not None)


class AddressInfoFlags(enum.IntFlag):
    """AI_* flags for :func:`address_info`."""

    AI_PASSIVE = _core.AI_PASSIVE
    AI_CANONNAME = _core.AI_CANONNAME
    AI_NUMERICHOST = _core.AI_NUMERICHOST
    AI_NUMERICSERV = _core.AI_NUMERICSERV
    AI_V4MAPPED = _core.AI_V4MAPPED
    AI_ALL = _core.AI_ALL
    AI_ADDRCONFIG = _core.AI_ADDRCONFIG
    #: GNU: convert the host name to IDNA (punycode) before the lookup.
    AI_IDN = _core.AI_IDN
    #: GNU: with AI_CANONNAME, decode the canonical name from IDNA.
    AI_CANONIDN = _core.AI_CANONIDN


class NameInfoFlags(enum.IntFlag):
    """NI_* flags for :func:`name_info`."""

    NI_NUMERICHOST = _core.NI_NUMERICHOST
    NI_NUMERICSERV = _core.NI_NUMERICSERV
    NI_NOFQDN = _core.NI_NOFQDN
    NI_NAMEREQD = _core.NI_NAMEREQD
    NI_DGRAM = _core.NI_DGRAM
    #: GNU: decode the host name from IDNA (punycode).
    NI_IDN = _core.NI_IDN


@dataclass(frozen=True, slots=True)
class Service:
    """struct servent: ``port`` is in host byte order."""

    name: str
    aliases: tuple[str, ...]
    port: int
    protocol: str


@dataclass(frozen=True, slots=True)
class Protocol:
    """struct protoent."""

    name: str
    aliases: tuple[str, ...]
    number: int


@dataclass(frozen=True, slots=True)
class Network:
    """struct netent: ``network`` is the network number in host byte order
    (``address`` gives it as dotted text)."""

    name: str
    aliases: tuple[str, ...]
    address_type: int
    network: int

    @property
    def address(self) -> str:
        return _socket.inet_ntop(_socket.AF_INET, self.network.to_bytes(4, "big"))


@dataclass(frozen=True, slots=True)
class Host:
    """struct hostent: addresses as text."""

    name: str
    aliases: tuple[str, ...]
    address_type: int
    addresses: tuple[str, ...]


SocketAddress = Union[tuple[str, int], tuple[str, int, int, int], tuple[int]]


@dataclass(frozen=True, slots=True)
class AddressInfo:
    """One struct addrinfo. ``address`` is ``(host, port)`` for IPv4 and
    ``(host, port, flowinfo, scope_id)`` for IPv6, as in :mod:`socket`."""

    family: _socket.AddressFamily | int
    type: _socket.SocketKind | int
    protocol: int
    canonical_name: str | None
    address: SocketAddress


@dataclass(frozen=True, slots=True)
class NameInfo:
    """Result of getnameinfo."""

    host: str
    service: str


def _service(t: tuple[str, tuple[str, ...], int, str]) -> Service:
    return Service(t[0], t[1], t[2], t[3])


def _protocol(t: tuple[str, tuple[str, ...], int]) -> Protocol:
    return Protocol(t[0], t[1], t[2])


def _network(t: tuple[str, tuple[str, ...], int, int]) -> Network:
    return Network(t[0], t[1], t[2], t[3])


def services() -> Iterator[Service]:
    """Every entry of the services database (getservent_r), in file order.

    The database is read whole under a lock when iteration starts, so
    concurrent iterations in other threads do not disturb it."""
    return iter([_service(t) for t in _core.getservent()])


def protocols() -> Iterator[Protocol]:
    """Every entry of the protocols database (getprotoent_r)."""
    return iter([_protocol(t) for t in _core.getprotoent()])


def networks() -> Iterator[Network]:
    """Every entry of the networks database (getnetent_r)."""
    return iter([_network(t) for t in _core.getnetent()])


def hosts() -> Iterator[Host]:
    """Every entry of the hosts database (gethostent_r: /etc/hosts through
    nsswitch; DNS is not enumerable)."""
    return iter([Host(t[0], t[1], t[2], t[3]) for t in _core.gethostent()])


def _check_name(name: object, what: str) -> str:
    if not isinstance(name, str):
        raise TypeError(f"{what} must be str, not {type(name).__name__}")
    if "\0" in name:
        raise ValueError(f"{what} contains a NUL character")
    return name


def service_by_name(name: str, proto: str | None = None) -> Service:
    """getservbyname_r. Raises NotFoundError when there is no such service."""
    _check_name(name, "name")
    if proto is not None:
        _check_name(proto, "proto")
    t = _core.getservbyname_r(name, proto)
    if t is None:
        raise NotFoundError(f"no service {name!r}" + (f" for protocol {proto!r}" if proto
                                                       else ""))
    return _service(t)


def service_by_port(port: int, proto: str | None = None) -> Service:
    """getservbyport_r (``port`` in host byte order). Raises NotFoundError."""
    if not isinstance(port, int) or isinstance(port, bool):
        raise TypeError("port must be int")
    if not 0 <= port <= 65535:
        raise ValueError("port must be 0-65535")
    if proto is not None:
        _check_name(proto, "proto")
    t = _core.getservbyport_r(port, proto)
    if t is None:
        raise NotFoundError(f"no service on port {port}" + (f"/{proto}" if proto else ""))
    return _service(t)


def protocol_by_name(name: str) -> Protocol:
    """getprotobyname_r. Raises NotFoundError."""
    _check_name(name, "name")
    t = _core.getprotobyname_r(name)
    if t is None:
        raise NotFoundError(f"no protocol {name!r}")
    return _protocol(t)


def protocol_by_number(number: int) -> Protocol:
    """getprotobynumber_r. Raises NotFoundError."""
    if not isinstance(number, int) or isinstance(number, bool):
        raise TypeError("number must be int")
    if not 0 <= number < 2**31:
        raise ValueError("number out of range")
    t = _core.getprotobynumber_r(number)
    if t is None:
        raise NotFoundError(f"no protocol number {number}")
    return _protocol(t)


def network_by_name(name: str) -> Network:
    """getnetbyname_r. Raises NotFoundError."""
    _check_name(name, "name")
    t = _core.getnetbyname_r(name)
    if t is None:
        raise NotFoundError(f"no network {name!r}")
    return _network(t)


def network_by_address(network: int | str, type: int = _socket.AF_INET) -> Network:
    """getnetbyaddr_r: ``network`` as a host-order number or dotted text
    ("127.0.0.0"). Raises NotFoundError."""
    if isinstance(network, str):
        net = int.from_bytes(_socket.inet_aton(network), "big")
    elif isinstance(network, int) and not isinstance(network, bool):
        if not 0 <= network < 2**32:
            raise ValueError("network must be a 32-bit number")
        net = network
    else:
        raise TypeError("network must be int or str")
    t = _core.getnetbyaddr_r(net, int(type))
    if t is None:
        raise NotFoundError(f"no network {network!r}")
    return _network(t)


def gai_strerror(code: int) -> str:
    """The C library's text for an EAI_* code.

    Raises:
        TypeError: ``code`` is not an int.
        ValueError: ``code`` does not fit a C int (no EAI_* code does).
    """
    if isinstance(code, bool) or not isinstance(code, int):
        raise TypeError(f"code must be an int, not {type(code).__name__}")
    if not -(2**31) <= code < 2**31:
        raise ValueError(f"code {code} is not an EAI_* code (out of a C int's range)")
    return _core.gai_strerror(code)


def _gai_error(code: int, err: int) -> OSError:
    if code == _core.EAI_SYSTEM and err:
        return error_from_errno(err, "getaddrinfo")
    cls = AddressNotFoundError if code in _NOT_FOUND_CODES else AddressInfoError
    return cls(code, gai_strerror(code))


def _enum(cls: type[enum.IntEnum], value: int) -> int:
    try:
        return cls(value)
    except ValueError:
        return value


def address_info(host: str | None, service: str | int | None, *, family: int = 0,
                 type: int = 0, protocol: int = 0,
                 flags: AddressInfoFlags | int = AddressInfoFlags(0)) -> list[AddressInfo]:
    """getaddrinfo, with typed results in the C library's order.

    Blocks (GIL released) for as long as the resolver takes: getaddrinfo has
    no timeout of its own. Raises AddressInfoError (a socket.gaierror) with
    the EAI_* code as ``errno`` (AddressNotFoundError, also a
    NotFoundError, when nothing was found); EAI_SYSTEM raises the errno's
    OSError."""
    if host is not None:
        _check_name(host, "host")
    serv: str | None
    if isinstance(service, bool):
        raise TypeError("service must be str, int or None")
    if isinstance(service, int):
        serv = str(service)
    else:
        serv = None if service is None else _check_name(service, "service")
    code, err, items = _core.getaddrinfo(host, serv, int(family), int(type),
                                         int(protocol), int(flags))
    if code:
        raise _gai_error(code, err)
    return [AddressInfo(_enum(_socket.AddressFamily, f), _enum(_socket.SocketKind, k), p, c, a)
            for f, k, p, c, a in items]


def name_info(address: tuple[str, int] | tuple[str, int, int, int],
              flags: NameInfoFlags | int = NameInfoFlags(0)) -> NameInfo:
    """getnameinfo on a numeric ``(host, port[, flowinfo, scope_id])``.
    Raises AddressInfoError like :func:`address_info`."""
    if not isinstance(address, tuple) or len(address) not in (2, 4):
        raise TypeError("address must be (host, port) or (host, port, flowinfo, scope_id)")
    host, port = address[0], address[1]
    flow, scope = (address[2], address[3]) if len(address) == 4 else (0, 0)
    _check_name(host, "host")
    code, err, h, s = _core.getnameinfo(host, int(port), int(flow), int(scope), int(flags))
    if code:
        raise _gai_error(code, err)
    return NameInfo(h, s)
