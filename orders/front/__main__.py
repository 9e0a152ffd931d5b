"""``python -m orders.front``: run the authorization front (see :mod:`orders.front.server`)."""

from __future__ import annotations

import argparse
import asyncio
import signal
from pathlib import Path
from typing import Final

from orders import logging as olog
from orders.codec_server.auth import JwksCache, TokenVerifier
from orders.contract import temporal_access
from orders.front import rules as front_rules
from orders.front.bearers import Bearers
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
    ap.add_argument("--people-jwks-url", help="the people's OIDC provider's key set")
    ap.add_argument("--people-issuer", help="the provider's issuer (iss of persons' tokens)")
    ap.add_argument(
        "--people-audience", help="aud the persons' port requires (the temporal-cli client id)"
    )
    ap.add_argument(
        "--ui-audience", help="aud of the tokens the temporal-ui principal forwards (its client)"
    )
    ap.add_argument("--machine-jwks-url", help="identities' token key set (checks their bearers)")
    ap.add_argument("--machine-issuer", help="iss of identities' tokens")
    ap.add_argument("--jwks-ca", help="CA bundle for fetching the key sets (default: system)")
    ap.add_argument("--rules", type=Path, help="rules file (default: the packaged one)")
    ap.add_argument("--health-port", type=int, help="plain HTTP GET /healthz for probes")
    ap.add_argument("--health-host", default="0.0.0.0", help="address of the health port")  # noqa: S104
    args = ap.parse_args(argv)
    for option, needs in _NEEDS.items():
        if getattr(args, option) and not all(getattr(args, n) for n in needs):
            ap.error(f"--{_flag(option)} needs " + " and ".join(f"--{_flag(n)}" for n in needs))
    return args


_NEEDS: Final = {
    "people_listen": ("people_audience",),
    "people_audience": ("people_jwks_url", "people_issuer"),
    "ui_audience": ("people_jwks_url", "people_issuer"),
    "people_jwks_url": ("people_issuer",),
    "machine_jwks_url": ("machine_issuer",),
    "machine_issuer": ("machine_jwks_url",),
}
"""Option -> the options it cannot work without."""


def _flag(dest: str) -> str:
    return dest.replace("_", "-")


def bearers(args: argparse.Namespace) -> Bearers:
    """The token checks the arguments ask for (one audience per token kind)."""
    verify = args.jwks_ca or True
    people = machines = None
    if args.people_jwks_url:
        keys = JwksCache(args.people_jwks_url, verify=verify)
        audience = args.people_audience or args.ui_audience or ""
        people = TokenVerifier(keys, args.people_issuer, audience)
    if args.machine_jwks_url:
        # Audiences are per caller (Bearers.audiences); the constructor's is never used alone.
        keys = JwksCache(args.machine_jwks_url, verify=verify)
        machines = TokenVerifier(
            keys, args.machine_issuer, temporal_access.TEMPORAL_AUDIENCE_PREFIX
        )
    return Bearers(
        people=people,
        people_audience=args.people_audience,
        ui_audience=args.ui_audience,
        machines=machines,
    )


async def amain(args: argparse.Namespace) -> int:
    """Build the front from its arguments and serve until SIGTERM."""
    front = Front(
        rules=front_rules.RulesFile(args.rules),
        upstream=Upstream(
            args.upstream,
            args.upstream_server_name,
            TlsFiles(args.upstream_cert, args.upstream_key, args.upstream_ca),
        ),
        tokens=TokenBinding(args.token_key_file.read_bytes()),
        bearers=bearers(args),
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
