"""Worker "hosts" for the scale-out test: each a Linux network namespace of its own, joined
to this machine by a veth pair, with addresses the test makes and removes.

A process in a namespace sees only its own loopback and its end of the veth pair, so it
cannot reach the PostgreSQL, Redis or PSE sandbox that listen on this machine's
127.0.0.1. Each host therefore gets, on this machine's end of its veth, a small TCP
forwarder per service: the host's workers connect to `10.x.y.1:<port>` over the veth,
as a worker on another machine would connect over the network, and the forwarder relays
to the service. Killing a host kills every process in its namespace at once.

Where namespaces cannot be made (not root, no `ip`, a container without CAP_NET_ADMIN),
`make_hosts` raises `NamespacesUnavailable` with the reason; the caller falls back to
plain process groups and says so.
"""
from __future__ import annotations

import os
import selectors
import shutil
import socket
import subprocess
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit


class NamespacesUnavailable(RuntimeError):
    pass


class Forwarder:
    """Relays every TCP connection accepted on (listen_ip, an ephemeral port) to `target`."""

    def __init__(self, listen_ip: str, target: tuple[str, int]) -> None:
        self.target = target
        self._server = socket.create_server((listen_ip, 0))
        self.address: tuple[str, int] = self._server.getsockname()[:2]
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._accept, name=f"forward-{self.address}", daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._closing.is_set():
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()

    @staticmethod
    def _pump(a: socket.socket, b: socket.socket) -> None:
        # One thread per connection moves bytes both ways until either side closes.
        selector = selectors.DefaultSelector()
        selector.register(a, selectors.EVENT_READ, b)
        selector.register(b, selectors.EVENT_READ, a)
        try:
            while True:
                for key, _ in selector.select():
                    data = key.fileobj.recv(65536)  # type: ignore[union-attr]
                    if not data:
                        return
                    key.data.sendall(data)
        except OSError:
            return
        finally:
            selector.close()
            a.close()
            b.close()

    def close(self) -> None:
        self._closing.set()
        self._server.close()


@dataclass
class Host:
    name: str
    namespace: str | None       # None: a plain process group on this machine (the fallback)
    gateway_ip: str             # this machine's end of the veth, where the forwarders listen
    address: str                # the host's own address (its end of the veth)
    forwarders: dict[tuple[str, int], Forwarder] = field(default_factory=dict)

    def command(self, argv: list[str]) -> list[str]:
        """`argv` run inside the host (ip netns exec execs it: same pid, same process group)."""
        return ["ip", "netns", "exec", self.namespace, *argv] if self.namespace else argv

    def url(self, url: str) -> str:
        """`url` as seen from this host: its host:port replaced by the forwarder's."""
        if self.namespace is None:
            return url
        parts = urlsplit(url)
        target = (parts.hostname or "127.0.0.1", parts.port or _DEFAULT_PORTS[parts.scheme.split("+")[0]])
        if target not in self.forwarders:
            self.forwarders[target] = Forwarder(self.gateway_ip, target)
        ip, port = self.forwarders[target].address
        userinfo = parts.netloc.rpartition("@")[0]
        netloc = f"{userinfo}@{ip}:{port}" if userinfo else f"{ip}:{port}"
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


_DEFAULT_PORTS = {"postgresql": 5432, "redis": 6379, "http": 80}


def _ip(*args: str) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise NamespacesUnavailable(f"`ip {' '.join(args)}`: {done.stderr.strip() or done.returncode}")


def make_hosts(count: int) -> list[Host]:
    """`count` namespaces named after this process, each with a /30 on its veth pair."""
    if shutil.which("ip") is None:
        raise NamespacesUnavailable("the `ip` command (iproute2) is not installed")
    if os.geteuid() != 0:
        raise NamespacesUnavailable("making network namespaces needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN)")
    pid = os.getpid()
    # A subnet per test process, so parallel runs on one machine do not collide.
    second = 64 + pid % 128
    hosts: list[Host] = []
    try:
        for i in range(count):
            ns, veth_out, veth_in = f"zp{pid}h{i}", f"zpo{pid}{i}"[:15], f"zpi{pid}{i}"[:15]
            third = (pid // 128 * 8 + i) % 64 * 4
            gateway, address = f"10.{second}.{third}.1", f"10.{second}.{third}.2"
            _ip("netns", "add", ns)
            hosts.append(Host(f"host-{chr(ord('a') + i)}", ns, gateway, address))
            _ip("link", "add", veth_out, "type", "veth", "peer", "name", veth_in)
            _ip("link", "set", veth_in, "netns", ns)
            _ip("addr", "add", f"{gateway}/30", "dev", veth_out)
            _ip("link", "set", veth_out, "up")
            _ip("-n", ns, "addr", "add", f"{address}/30", "dev", veth_in)
            _ip("-n", ns, "link", "set", veth_in, "up")
            _ip("-n", ns, "link", "set", "lo", "up")
    except NamespacesUnavailable:
        remove_hosts(hosts)
        raise
    return hosts


def process_group_hosts(count: int) -> list[Host]:
    return [Host(f"host-{chr(ord('a') + i)}", None, "127.0.0.1", "127.0.0.1") for i in range(count)]


def kill_namespace(host: Host) -> None:
    """SIGKILL every process in the host's namespace (a machine losing power)."""
    if host.namespace is None:
        return
    pids = subprocess.run(["ip", "netns", "pids", host.namespace], capture_output=True, text=True).stdout.split()
    for pid in pids:
        try:
            os.kill(int(pid), 9)
        except (ProcessLookupError, ValueError):
            pass


def remove_hosts(hosts: Sequence[Host]) -> None:
    for host in hosts:
        for forwarder in host.forwarders.values():
            forwarder.close()
        if host.namespace:
            kill_namespace(host)
            # Deleting the namespace deletes its end of the veth, and with it ours.
            subprocess.run(["ip", "netns", "del", host.namespace], capture_output=True)
