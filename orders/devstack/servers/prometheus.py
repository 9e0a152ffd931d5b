"""Debian's Prometheus, scraping every process of the local stack.

It runs as its own OS user (``orders-prometheus``) when the stack runs as root: its data,
its configuration and its OpenBao scrape token are that user's alone (0600, 0700). What it
scrapes, every :func:`scrape_seconds` (15 s; the test stack sets 2 s, so a test sees a
change within seconds):

- ``orders``: each worker's and the codec server's own counters (prometheus-client);
- ``temporal-sdk``: each worker's SDK runtime (task slots, latencies, poll results, and the
  workflow's approval and outcome counters);
- ``front``: the authorization front's refusals (its health port's ``/metrics``);
- ``temporal-server``: the dev server's own metrics, through the UI front (the server
  lives in its own network namespace);
- ``openbao``: ``/v1/sys/metrics?format=prometheus`` over TLS with a token that may read
  that path and nothing else (:mod:`orders.vault.metrics_reader`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Final

from orders.devstack.procs import Proc
from orders.devstack.servers.base import HOST
from orders.devstack.state import StackPaths
from orders.devstack.users import os_user_name, separate_users, system_user
from orders.files import Owner, write_private

PROMETHEUS: Final = Path("/usr/bin/prometheus")
SCRAPE_ENV: Final = "ORDERS_PROMETHEUS_SCRAPE_SECONDS"
DEFAULT_SCRAPE_SECONDS: Final = 15


def scrape_seconds() -> int:
    """Scrape interval: Prometheus's usual 15 s, or ``$ORDERS_PROMETHEUS_SCRAPE_SECONDS``.

    Every scrape costs each worker a render of its registries and OpenBao one request:
    at 2 s on 2 cores that was ~5 % of the benchmark's hardened throughput, so only the
    test stack (which must see a counter move within seconds) scrapes that often.
    """
    return max(1, int(os.environ.get(SCRAPE_ENV, DEFAULT_SCRAPE_SECONDS)))


USER: Final = os_user_name("prometheus")
TOKEN_FILE: Final = "openbao-metrics.token"  # noqa: S105 - a file's name, not a secret


def _job(name: str, targets: list[str], **extra: object) -> dict[str, object]:
    return {"job_name": name, "static_configs": [{"targets": sorted(targets)}], **extra}


def config(
    paths: StackPaths,
    orders_targets: list[str],
    sdk_targets: list[str],
    front_target: str,
    temporal_target: str,
    vault_target: str,
) -> dict[str, object]:
    """Prometheus's configuration (YAML is a superset of JSON: written as JSON)."""
    home = paths.dev / "prometheus"
    return {
        "global": {"scrape_interval": f"{scrape_seconds()}s", "scrape_timeout": "1s"},
        "scrape_configs": [
            _job("orders", orders_targets),
            _job("temporal-sdk", sdk_targets),
            _job("front", [front_target]),
            _job("temporal-server", [temporal_target]),
            _job(
                "openbao",
                [vault_target],
                scheme="https",
                metrics_path="/v1/sys/metrics",
                params={"format": ["prometheus"]},
                tls_config={"ca_file": str(paths.ca_file)},
                authorization={"credentials_file": str(home / TOKEN_FILE)},
            ),
        ],
    }


def prometheus(
    paths: StackPaths, port: int, scrape: dict[str, object], vault_token: str
) -> tuple[Proc, str]:
    """Write the configuration and the scrape token; return the server and its URL.

    Raises:
        RuntimeError: Prometheus is not installed (``make debs``).
    """
    if not PROMETHEUS.exists():
        raise RuntimeError(f"{PROMETHEUS} is missing: run `make debs` (Debian's prometheus)")
    user = system_user(USER) if separate_users() else None
    owner = Owner(user.pw_uid, user.pw_gid) if user is not None else None
    home = paths.dev / "prometheus"
    data = home / "data"
    data.mkdir(mode=0o700, parents=True, exist_ok=True)
    for directory in (home, data):
        directory.chmod(0o700)
        if owner is not None:
            os.chown(directory, *owner)
    write_private(home / TOKEN_FILE, vault_token, owner=owner)
    config_file = home / "prometheus.yml"
    write_private(config_file, json.dumps(scrape, indent=2), owner=owner)
    url = f"http://{HOST}:{port}"
    proc = Proc(
        name="prometheus",
        argv=[
            str(PROMETHEUS),
            f"--config.file={config_file}",
            f"--storage.tsdb.path={data}",
            "--storage.tsdb.retention.time=1d",
            f"--web.listen-address={HOST}:{port}",
            "--log.level=warn",
        ],
        log_path=paths.log_file("prometheus"),
        user=user,
        home=home,
    )
    return proc, url
