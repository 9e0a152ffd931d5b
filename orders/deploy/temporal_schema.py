"""Temporal's database schema, set up by a one-shot step from ``temporalio/admin-tools``.

Temporal no longer builds ``temporalio/auto-setup`` (deprecated: it created the schema at
every start, from the server container). The deployments now run ``temporalio/server``,
which only serves, and a one-shot step — compose service / kind Job ``temporal-schema`` —
that runs ``temporal-sql-tool`` from the admin-tools image of the same release, as
auto-setup did: for ``temporal`` and ``temporal_visibility`` each, ``create-database``,
``setup-schema -v 0.0`` and ``update-schema -d <versioned dir>``. All three are
idempotent (auto-setup ran them on every start), so re-running the step is safe and an
image upgrade is "bump the two digests, run the step, roll the server".

The tool dials temporal-db over TLS by the name on its certificate, verified against the
Vault root CA (``SQL_TLS*``; the flags' environment variables in temporal's
``tools/sql/main.go``), and reads its password from a file, never from the manifest.
"""

from __future__ import annotations

from typing import Any, Final

from orders.contract import pki_names
from orders.deploy import images, tls

NAME: Final = "temporal-schema"
"""Compose service / kind Job / ServiceAccount / NetworkPolicy of the step."""
NETWORK: Final = "temporal-schema"
"""Compose: the internal network the step shares with temporal-db alone (not Temporal's)."""
DATABASES: Final = {
    "temporal": "temporal",
    "temporal_visibility": "visibility",
}
"""Database -> its schema directory under the image's ``/etc/temporal/schema/postgresql/v12``."""
SCHEMA_ROOT: Final = "/etc/temporal/schema/postgresql/v12"
USER: Final = "temporal"
PORT: Final = 5432


def env() -> dict[str, str]:
    """``temporal-sql-tool``'s settings: Postgres 12+ plugin, TLS with host verification."""
    return {
        "SQL_PLUGIN": "postgres12",
        "SQL_HOST": pki_names.TEMPORAL_DB_SERVER_NAME,
        "SQL_PORT": str(PORT),
        "SQL_USER": USER,
        "SQL_TLS": "true",
        "SQL_TLS_CA_FILE": tls.CA_PATH,
        "SQL_TLS_SERVER_NAME": pki_names.TEMPORAL_DB_SERVER_NAME,
        "SQL_TLS_DISABLE_HOST_VERIFICATION": "false",
    }


def script(password_file: str, *, k8s: bool = False) -> str:
    """The shell body: password from ``password_file``, then the three steps per database.

    Compose interpolates ``$`` (``$$`` is a literal one); Kubernetes leaves it alone.
    """
    dollar = "$" if k8s else "$$"
    steps = [f'SQL_PASSWORD="{dollar}(cat {password_file})"', "export SQL_PASSWORD"]
    for db, schema in DATABASES.items():
        tool = f"temporal-sql-tool --db {db}"
        steps += [
            f"{tool} create-database",
            f"{tool} setup-schema -v 0.0",
            f"{tool} update-schema -d {SCHEMA_ROOT}/{schema}/versioned",
        ]
    return "set -eu; " + " && ".join(steps)


def command(password_file: str, *, k8s: bool = False) -> list[str]:
    """The step's argv (``/bin/sh -c``)."""
    return ["/bin/sh", "-c", script(password_file, k8s=k8s)]


def compose_service(*, user: str) -> dict[str, Any]:
    """The compose one-shot: on :data:`NETWORK` only (temporal-db), the CA, the password."""
    from orders.deploy import compose_infra as ci

    return {
        "<<": ci.HARDENED,
        "image": images.TEMPORAL_ADMIN_TOOLS.ref,
        "user": user,
        "command": command("/run/secrets/temporal-db-password"),
        "environment": env(),
        "secrets": ["temporal-db-password"],
        "volumes": ci.tls_mounts(None),
        "networks": {NETWORK: {}},
        "depends_on": ci.healthy("temporal-db"),
        "restart": "no",
    }
