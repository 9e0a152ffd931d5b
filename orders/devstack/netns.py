"""Run the Temporal dev server where nothing but the authorization front can reach it.

``unshare --net python -m orders.devstack.netns CONFIG -- TEMPORAL-ARGV`` gives the dev
server a network namespace of its own: its loopback (frontend, UI, HTTP and metrics ports)
is not the host's, so no local process can dial it. The only ways in are two Unix sockets
(the file system is shared) served by a bridge inside the namespace, Debian's nginx with
its stream module:

- ``temporal-frontend.sock``: TLS with the *internode* certificate, a client certificate
  from the internode CA required (the front has one; no identity does), then the bytes go
  on to the frontend's loopback port;
- ``temporal-ui.sock``: plain bytes to the UI server, served to browsers by the UI's TLS
  front.

This module is the namespace's first process: it brings its loopback up (one ioctl, since
Python 3.11 has no binding for it and iproute2 may be absent), starts the server, then the
bridge once its configuration exists, forwards SIGTERM/SIGINT to both and exits when either
ends.
"""

from __future__ import annotations

import fcntl
import os
import signal
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import Final

SIOCGIFFLAGS: Final = 0x8913
SIOCSIFFLAGS: Final = 0x8914
IFF_UP: Final = 0x1
NGINX: Final = "/usr/sbin/nginx"


def loopback_up() -> None:
    """Set ``lo`` up in the current network namespace (it starts down)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        req = struct.pack("16sh", b"lo", 0)
        flags = struct.unpack("16sh", fcntl.ioctl(sock, SIOCGIFFLAGS, req))[1]
        fcntl.ioctl(sock, SIOCSIFFLAGS, struct.pack("16sh", b"lo", flags | IFF_UP))


def main(argv: list[str]) -> int:
    """``CONFIG -- ARGV``: run the bridge (nginx with CONFIG) and ARGV; wait for ARGV."""
    if len(argv) < 3 or argv[1] != "--":
        print("usage: python -m orders.devstack.netns NGINX_CONF -- COMMAND...", file=sys.stderr)
        return 2
    config, command = Path(argv[0]), argv[2:]
    loopback_up()
    started: list[subprocess.Popen[bytes]] = []

    def forward(signum: int, _frame: object) -> None:
        for proc in started:
            if proc.poll() is None:
                proc.send_signal(signum)

    # Installed first: a stop while the server boots must reach it, not orphan it.
    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    server = subprocess.Popen(command)
    started.append(server)
    # The bridge needs the internode certificate, issued once OpenBao is up: the supervisor
    # writes the bridge's configuration after that. The server boots meanwhile.
    while not config.exists() and server.poll() is None:
        time.sleep(0.2)
    # Sockets the bridge creates are the owner's alone (0600).
    os.umask(0o077)
    bridge = subprocess.Popen([NGINX, "-p", str(config.parent), "-c", str(config)])
    started.append(bridge)
    # Either one gone leaves the server unreachable or the bridge useless: end both, and the
    # supervisor restarts the pair.
    while server.poll() is None and bridge.poll() is None:
        time.sleep(0.5)
    for proc in (bridge, server):
        if proc.poll() is None:
            proc.terminate()
            deadline = time.monotonic() + 10
            while proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.1)
            if proc.poll() is None:
                proc.kill()
    code = server.returncode or bridge.returncode or 0
    return code


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
