"""unixipc.netdb against getent (same C library, same nsswitch) and the
resolver on loopback addresses only."""

from __future__ import annotations

import dataclasses
import shutil
import socket
import subprocess
import threading

import pytest

from unixipc import netdb

GETENT = shutil.which("getent")
needs_getent = pytest.mark.skipif(GETENT is None, reason="getent not installed")


def getent(db: str) -> list[list[str]]:
    out = subprocess.run([GETENT or "getent", db], capture_output=True, text=True,
                         timeout=30).stdout
    return [line.split() for line in out.splitlines() if line.strip()]


@needs_getent
def test_services_equal_getent():
    expected = {(f[0], int(f[1].split("/")[0]), f[1].split("/")[1], tuple(f[2:]))
                for f in getent("services")}
    got = {(s.name, s.port, s.protocol, s.aliases) for s in netdb.services()}
    assert got == expected and got


@needs_getent
def test_protocols_equal_getent():
    expected = {(f[0], int(f[1]), tuple(f[2:])) for f in getent("protocols")}
    got = {(p.name, p.number, p.aliases) for p in netdb.protocols()}
    assert got == expected and got


@needs_getent
def test_networks_equal_getent():
    expected = {(f[0], f[1]) for f in getent("networks")}
    # getent prints the network number in dotted form, dropping no octets
    # for class A/B/C with trailing zeros it keeps them (e.g. 127.0.0.0).
    got = {(n.name, n.address) for n in netdb.networks()}
    assert {name for name, _ in got} == {name for name, _ in expected}
    for name, addr in expected:
        assert (name, addr) in got or any(
            g == name and socket.inet_aton(a) == socket.inet_aton(addr) for g, a in got)


@needs_getent
def test_hosts_equal_getent():
    # getent hosts prints one line per address: "addr name aliases..."
    expected = {(f[1], f[0], tuple(f[2:])) for f in getent("hosts")}
    got = {(h.name, a, h.aliases) for h in netdb.hosts() for a in h.addresses}
    assert got == expected


def test_lookups():
    assert netdb.service_by_name("ssh", "tcp").port == 22
    assert netdb.service_by_port(80, "tcp").name == "http"
    assert netdb.service_by_name("ssh").protocol in ("tcp", "udp")
    assert netdb.protocol_by_number(17).name == "udp"
    assert netdb.protocol_by_name("tcp").number == 6
    n = netdb.network_by_name("loopback")
    assert n.address == "127.0.0.0"
    assert netdb.network_by_address("127.0.0.0").name == "loopback"
    assert netdb.network_by_address(0x7F000000).name == "loopback"


@pytest.mark.parametrize("call", [
    lambda: netdb.service_by_name("no-such-service-x"),
    lambda: netdb.service_by_name("ssh", "no-such-proto"),
    lambda: netdb.service_by_port(1, "no-such-proto"),
    lambda: netdb.protocol_by_name("no-such-proto"),
    lambda: netdb.protocol_by_number(250),
    lambda: netdb.network_by_name("no-such-net"),
    lambda: netdb.network_by_address("10.99.98.0"),
])
def test_not_found_is_lookup_error(call):
    with pytest.raises(netdb.NotFoundError) as info:
        call()
    assert isinstance(info.value, LookupError) and str(info.value)


def test_bad_arguments_before_any_call():
    with pytest.raises(TypeError):
        netdb.service_by_name(22)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        netdb.service_by_port(70000)
    with pytest.raises(ValueError):
        netdb.protocol_by_name("a\0b")


def test_concurrent_enumerations_each_see_everything():
    full = list(netdb.services())
    results: list[list[netdb.Service]] = []
    barrier = threading.Barrier(2)

    def worker() -> None:
        barrier.wait(timeout=10)
        for _ in range(20):
            results.append(list(netdb.services()))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=50)
    assert len(results) == 40
    assert all(r == full for r in results)


def test_results_are_frozen_dataclasses():
    s = netdb.service_by_name("ssh", "tcp")
    with pytest.raises(AttributeError):
        s.port = 1  # type: ignore[misc]
    assert not hasattr(s, "__dict__")
    results = [netdb.protocol_by_number(6), netdb.network_by_name("loopback"),
               next(netdb.hosts()),
               netdb.address_info("127.0.0.1", 22, flags=netdb.AddressInfoFlags.AI_NUMERICHOST)[0],
               netdb.name_info(("127.0.0.1", 22), netdb.NameInfoFlags.NI_NUMERICHOST)]
    for r in results:
        assert dataclasses.is_dataclass(r) and not hasattr(r, "__dict__")
        field = dataclasses.fields(r)[0].name
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(r, field, None)


def test_address_info_ipv4():
    infos = netdb.address_info("127.0.0.1", 22, type=socket.SOCK_STREAM,
                               flags=netdb.AddressInfoFlags.AI_NUMERICHOST
                               | netdb.AddressInfoFlags.AI_NUMERICSERV)
    assert infos[0].family == socket.AF_INET
    assert infos[0].type == socket.SOCK_STREAM
    assert infos[0].address == ("127.0.0.1", 22)
    expected = socket.getaddrinfo("127.0.0.1", 22, type=socket.SOCK_STREAM,
                                  flags=socket.AI_NUMERICHOST | socket.AI_NUMERICSERV)
    assert [(i.family, i.type, i.protocol, i.address) for i in infos] == \
        [(f, k, p, a) for f, k, p, _, a in expected]


def test_address_info_canonical_name_and_service_name():
    infos = netdb.address_info("localhost", "ssh", family=socket.AF_INET,
                               type=socket.SOCK_STREAM,
                               flags=netdb.AddressInfoFlags.AI_CANONNAME)
    assert infos[0].address == ("127.0.0.1", 22)
    assert infos[0].canonical_name


def has_ipv6() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not has_ipv6(), reason="no IPv6 on this machine")
def test_address_info_and_name_info_ipv6():
    infos = netdb.address_info("::1", "80", type=socket.SOCK_STREAM,
                               flags=netdb.AddressInfoFlags.AI_NUMERICHOST)
    assert infos[0].family == socket.AF_INET6
    assert infos[0].address[:2] == ("::1", 80)
    ni = netdb.name_info(("::1", 80, 0, 0),
                         netdb.NameInfoFlags.NI_NUMERICHOST | netdb.NameInfoFlags.NI_NUMERICSERV)
    assert ni == netdb.NameInfo("::1", "80")


def test_name_info_ipv4():
    ni = netdb.name_info(("127.0.0.1", 22))
    assert ni.service == "ssh"
    assert ni.host == socket.getnameinfo(("127.0.0.1", 22), 0)[0]
    ni = netdb.name_info(("127.0.0.1", 22), netdb.NameInfoFlags.NI_NUMERICHOST
                         | netdb.NameInfoFlags.NI_NUMERICSERV)
    assert ni == netdb.NameInfo("127.0.0.1", "22")


def test_gai_errors():
    assert netdb.gai_strerror(socket.EAI_NONAME)
    with pytest.raises(netdb.AddressInfoError) as info:
        netdb.address_info("not an address", None,
                           flags=netdb.AddressInfoFlags.AI_NUMERICHOST)
    assert info.value.errno == socket.EAI_NONAME
    assert isinstance(info.value, socket.gaierror)
    # nothing found is also a NotFoundError (LookupError), like the lookups
    assert isinstance(info.value, netdb.AddressNotFoundError)
    assert isinstance(info.value, LookupError)
    with pytest.raises(netdb.NotFoundError) as info2:
        netdb.address_info("127.0.0.1", "no-such-service-x")
    assert info2.value.errno == socket.EAI_SERVICE and str(info2.value)
    # a bad flag is an AddressInfoError but not "not found"
    with pytest.raises(netdb.AddressInfoError) as info3:
        netdb.address_info("127.0.0.1", None, flags=0x10000000)
    assert info3.value.errno == socket.EAI_BADFLAGS
    assert not isinstance(info3.value, LookupError)


def test_reexports():
    assert netdb.htons(1) == socket.htons(1)
    assert netdb.inet_ntop(socket.AF_INET, netdb.inet_pton(socket.AF_INET, "1.2.3.4")) == "1.2.3.4"


def test_different_databases_enumerated_at_once():
    calls = {"hosts": netdb.hosts, "networks": netdb.networks,
             "protocols": netdb.protocols, "services": netdb.services}
    full = {name: list(fn()) for name, fn in calls.items()}
    results: dict[str, list[bool]] = {name: [] for name in calls}
    barrier = threading.Barrier(2 * len(calls))

    def worker(name: str) -> None:
        barrier.wait(timeout=10)
        for _ in range(10):
            results[name].append(list(calls[name]()) == full[name])

    threads = [threading.Thread(target=worker, args=(name,)) for name in calls for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=50)
    assert all(r == [True] * 20 for r in results.values()), results


def test_lookups_are_thread_safe():
    # Each thread asks for something different; with a shared static buffer
    # (the non-_r functions) answers would leak from one thread to another.
    queries = [
        (lambda: netdb.service_by_name("ssh", "tcp").port, 22),
        (lambda: netdb.service_by_port(80, "tcp").name, "http"),
        (lambda: netdb.service_by_name("domain", "udp").port, 53),
        (lambda: netdb.protocol_by_number(17).name, "udp"),
        (lambda: netdb.protocol_by_name("icmp").number, 1),
        (lambda: netdb.network_by_name("loopback").network, 0x7F000000),
    ]
    wrong: list[tuple[int, object]] = []
    barrier = threading.Barrier(len(queries))

    def worker(i: int) -> None:
        call, expected = queries[i]
        barrier.wait(timeout=10)
        for _ in range(300):
            got = call()
            if got != expected:
                wrong.append((i, got))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(queries))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=50)
    assert not any(t.is_alive() for t in threads)
    assert wrong == []


def test_flag_enums_match_the_c_library():
    assert netdb.AddressInfoFlags.AI_NUMERICHOST == socket.AI_NUMERICHOST
    assert netdb.AddressInfoFlags.AI_CANONNAME == socket.AI_CANONNAME
    assert netdb.AddressInfoFlags.AI_PASSIVE == socket.AI_PASSIVE
    assert netdb.NameInfoFlags.NI_NUMERICSERV == socket.NI_NUMERICSERV
    assert netdb.NameInfoFlags.NI_NAMEREQD == socket.NI_NAMEREQD
    # AI_PASSIVE with no host: the wildcard address
    infos = netdb.address_info(None, 8080, family=socket.AF_INET, type=socket.SOCK_STREAM,
                               flags=netdb.AddressInfoFlags.AI_PASSIVE)
    assert infos[0].address == ("0.0.0.0", 8080)


def test_fork_while_another_thread_enumerates():
    """A child forked while a thread is walking a database can walk it too:
    neither unixipc's lock nor the C library's is left held in the child
    (before the fix every such child hung)."""
    import os
    import signal
    import time
    import warnings

    expected = len(list(netdb.services()))
    stop = threading.Event()

    def walk() -> None:
        while not stop.is_set():
            list(netdb.services())

    walker = threading.Thread(target=walk, daemon=True)
    walker.start()
    statuses = []
    try:
        for _ in range(20):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads (3.12+)
                pid = os.fork()
            if pid == 0:
                signal.signal(signal.SIGALRM, signal.SIG_DFL)
                signal.alarm(10)  # a hung child dies of SIGALRM
                os._exit(0 if len(list(netdb.services())) == expected else 1)
            statuses.append(os.waitpid(pid, 0)[1])
            time.sleep(0.002)
    finally:
        stop.set()
        walker.join(timeout=30)
    assert statuses == [0] * 20


@pytest.mark.parametrize("code", [2**64, -(2**63) - 1, 2**31])
def test_gai_strerror_out_of_range_is_value_error(code):
    with pytest.raises(ValueError, match="EAI_"):
        netdb.gai_strerror(code)


def test_gai_strerror_wrong_type_is_type_error():
    with pytest.raises(TypeError):
        netdb.gai_strerror("-2")  # type: ignore[arg-type]
