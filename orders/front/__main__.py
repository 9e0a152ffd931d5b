"""``python -m orders.front``: run the authorization front (see :mod:`orders.front.server`)."""

from __future__ import annotations

import argparse
import asyncio
import signal
from pathlib import Path

from orders import logging as olog
from orders.codec_server.auth import JwksCache, TokenVerifier
from orders.front import rules as front_rules
from orders.front.server import Front, TlsFiles, Upstream, serve
from orders.front.tokens import TokenBinding


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The front's command line (no secret on it: keys and certificates are files)."""
    ap = argparse.ArgumentParser(prog="python -m orders.front", description=__doc__)
    ap.add_argument("--listen", required=True, help="identities' port (mTLS), host:port")
    ap.add_argument("--tls-cert", type=Path, required=True)
    ap.add_argument("--tls-key", type=Path, required=True)
    ap.add_argument("--client-ca", type=Path, required=True, help="CA of callers' certificates")
    ap.add_argument("--upstream", required=True, help="the Temporal frontend (grpc target)")
    ap.add_argument("--upstream-server-name", required=True)
    ap.add_argument("--upstream-ca", type=Path, required=True, help="the internode CA")
    ap.add_argument("--upstream-cert", type=Path, required=True)
    ap.add_argument("--upstream-key", type=Path, required=True)
    ap.add_argument("--token-key-file", type=Path, required=True)
    ap.add_argument("--people-listen", help="persons' port (TLS + bearer token), host:port")
    ap.add_argument("--people-jwks-url")
    ap.add_argument("--people-issuer")
    ap.add_argument("--people-audience")
    ap.add_argument("--people-ca", help="CA bundle for fetching the JWKS (default: system)")
    ap.add_argument("--rules", type=Path, help="rules file (default: the packaged one)")
    ap.add_argument("--health-port", type=int, help="plain HTTP GET /healthz for probes")
    ap.add_argument("--health-host", default="0.0.0.0", help="address of the health port")  # noqa: S104
    return ap.parse_args(argv)


async def amain(args: argparse.Namespace) -> int:
    """Build the front from its arguments and serve until SIGTERM."""
    people = None
    if args.people_jwks_url:
        if not (args.people_issuer and args.people_audience):
            raise SystemExit("--people-jwks-url needs --people-issuer and --people-audience")
        keys = JwksCache(args.people_jwks_url, verify=args.people_ca or True)
        people = TokenVerifier(keys, args.people_issuer, args.people_audience)
    front = Front(
        rules=front_rules.RulesFile(args.rules),
        upstream=Upstream(
            args.upstream,
            args.upstream_server_name,
            TlsFiles(args.upstream_cert, args.upstream_key, args.upstream_ca),
        ),
        tokens=TokenBinding(args.token_key_file.read_bytes()),
        people=people,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await serve(
        front,
        args.listen,
        TlsFiles(args.tls_cert, args.tls_key, args.client_ca),
        people_listen=args.people_listen,
        stop=stop,
        health_port=args.health_port,
        health_host=args.health_host,
    )
    return 0


def main() -> None:
    """Entry point."""
    olog.configure("temporal-front")
    raise SystemExit(asyncio.run(amain(parse_args())))


if __name__ == "__main__":
    main()
