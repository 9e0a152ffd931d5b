"""A one-way TCP relay: ``python -m orders.deploy.relay --listen HOST:PORT --to HOST:PORT``.

``--listen``/``--to`` may be repeated: the n-th listening address forwards to the n-th target.

docker-compose uses it twice (:mod:`orders.deploy.compose_networks`):

* ``openbao-relay``: Temporal sits on networks that only the authorization front and its own
  Postgres share (:mod:`orders.deploy.front`), yet its authorizer fetches OpenBao's key sets;
  this relay, on Temporal's network and OpenBao's, forwards connections *to* OpenBao only;
* ``ingress``: the one member of the one non-internal network, publishing the browser-facing
  ports (OpenBao's login page, the UI, the codec server) while those servers stay on internal
  networks without a route out.

TLS stays end to end (the caller verifies the server's name against the Vault root CA): the
relay sees ciphertext, holds no key and no token, and nothing flows back through it to a
caller that did not open the connection.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ssl
import sys

from orders import logging as olog

log = olog.get(__name__)


def _split(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {value!r}")
    return host, int(port)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


async def _handle(
    target: tuple[str, int],
    tls: ssl.SSLContext | None,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
) -> None:
    try:
        up_reader, up_writer = await asyncio.wait_for(
            asyncio.open_connection(
                *target, ssl=tls, server_hostname=target[0] if tls is not None else None
            ),
            10,
        )
    except (OSError, TimeoutError) as exc:
        log.warning("relay.upstream_unreachable", target=f"{target[0]}:{target[1]}", error=str(exc))
        writer.close()
        return
    await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))


async def serve(
    listen: tuple[str, int], target: tuple[str, int], *, tls: ssl.SSLContext | None = None
) -> asyncio.Server:
    """Start relaying connections on ``listen`` to ``target`` (returns the listening server).

    With ``tls`` the relay opens TLS towards ``target`` (verifying its name), for a plain
    client of a TLS-only server: the tests' ``pg_dump``, whose wheel build has no SSL.
    """
    return await asyncio.start_server(
        lambda r, w: _handle(target, tls, r, w), host=listen[0], port=listen[1]
    )


Route = tuple[tuple[str, int], tuple[str, int]]


async def _main(routes: list[Route]) -> None:
    servers = [await serve(listen, target) for listen, target in routes]
    for listen, target in routes:
        log.info(
            "relay.listening", listen=f"{listen[0]}:{listen[1]}", to=f"{target[0]}:{target[1]}"
        )
    await asyncio.gather(*(server.serve_forever() for server in servers))


def main(argv: list[str] | None = None) -> int:
    """Relay until stopped."""
    ap = argparse.ArgumentParser(prog="python -m orders.deploy.relay", description=__doc__)
    ap.add_argument(
        "--listen", type=_split, action="append", required=True, help="HOST:PORT to listen on"
    )
    ap.add_argument(
        "--to", type=_split, action="append", required=True, help="HOST:PORT to forward to"
    )
    args = ap.parse_args(argv)
    if len(args.listen) != len(args.to):
        ap.error("give one --to per --listen (the n-th listener forwards to the n-th target)")
    olog.configure("relay")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_main(list(zip(args.listen, args.to, strict=True))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
