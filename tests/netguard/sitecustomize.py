"""Put on PYTHONPATH of a subprocess to make any non-loopback connection fail loudly."""

import socket
import sys

_real_connect = socket.socket.connect


def _guarded(sock, address):
    host = address[0] if isinstance(address, tuple) else address
    if isinstance(host, str) and (host.startswith("127.") or host in ("::1", "localhost") or host.startswith("/")):
        return _real_connect(sock, address)
    sys.stderr.write(f"NETWORK ACCESS BLOCKED: {address!r}\n")
    raise OSError(f"network access blocked by test guard: {address!r}")


socket.socket.connect = _guarded
