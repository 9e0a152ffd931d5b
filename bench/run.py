"""``make bench``: the same order workload, plain vs hardened, measured in one run.

* **hardened** — the real stack: one worker process per identity, Vault Kubernetes-auth
  logins, dynamic Postgres roles, every payload encrypted by the Transit-backed codec,
  need-to-know fields sealed with Transit field keys.
* **plain** — how teams often start: one worker process (this one) serving every queue,
  one static Postgres credential that can do everything the activities do, no payload
  codec. The workflow input keeps its type, so the three need-to-know fields are still
  sealed, but with a process-local key (no Vault; microseconds per order).

Both run against the same Temporal dev server and Postgres (plain in its own namespace),
in alternating rounds, after a warm-up. Printed: throughput, p50/p95/p99 latency, Vault
requests per order (all, and on the payload path), new Postgres sessions per order, CPU
seconds per order (all stack processes plus this one), and hardened/plain ratios. Results
go to ``bench/results/`` as JSON (and a PNG plot when matplotlib is installed).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import os
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import psutil
from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from sqlalchemy.ext.asyncio import create_async_engine
from temporalio.api.workflowservice.v1 import RegisterNamespaceRequest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import TLSConfig
from temporalio.worker import Worker

from activities import activities_for
from bench.measure import PhaseResult, read_counters, run_load, summarise, write_json
from orders import client as orders_client
from orders.contract import identities, pki_names, transit_names
from orders.db.engine import ssl_context
from orders.devstack import actas, control, servers
from orders.devstack.state import PROJECT_ROOT, StackInfo, StackPaths, Status
from orders.models import OrderItem, OrderRequest, Outcome, SealedOrder
from orders.security.customer_keys import CustomerDataKey, CustomerKeys
from orders.security.keyring import KeyRing
from orders.security.sealing import Sealer, Unsealer
from orders.security.transit import DataKey, TransitClient
from workers.build import workflow_runner
from workflows import OrderWorkflow

PLAIN_NAMESPACE = "orders-plain"
RESULTS = PROJECT_ROOT / "bench" / "results"
console = Console(width=140)


class LocalKeyRing(KeyRing):
    """Plain configuration only: one process-local data key, no Vault at all."""

    def __init__(self, transit: TransitClient, key_name: str) -> None:
        super().__init__(transit, key_name)
        self._local = DataKey(secrets.token_bytes(32), f"local:{key_name}", 1)

    async def current(self) -> DataKey:
        """The one local key."""
        return self._local

    async def unwrap(self, wrapped: str) -> bytes:
        """The one local key (every value was sealed with it)."""
        return self._local.plaintext


CUSTOMERS = 50
"""Distinct customers of a run: each has a key of its own (crypto-shredding), so the
warm-up places at least one order per customer and the rounds measure the steady state."""
BENCH_SKU = "SKU-CABLE"
"""The one item every bench order buys (:func:`restock` tops it up)."""


class LocalCustomerKeys(CustomerKeys):
    """Plain configuration only: one process-local customer data key, no Vault at all."""

    def __init__(self, transit: TransitClient) -> None:
        super().__init__(transit)
        self._local = CustomerDataKey("0" * 32, secrets.token_bytes(32), "local:customer")

    async def current(self, customer_id: str) -> CustomerDataKey:
        """The one local key."""
        return self._local

    async def unwrap(self, tag: str, wrapped: str) -> bytes:
        """The one local key (every value was sealed with it)."""
        return self._local.plaintext


def make_order(prefix: str, i: int) -> OrderRequest:
    """Order ``i`` of a run (fake PII, one cheap line item)."""
    oid = f"{prefix}-{uuid.uuid4().hex[:12]}"
    return OrderRequest(
        order_id=oid,
        customer_id=f"bench-{i % CUSTOMERS}",
        customer_email=f"{oid}@example.com",
        shipping_address=f"{i} Benchmark Avenue, Loadtown",
        payment_reference=f"tok-{i}",
        items=(OrderItem(sku=BENCH_SKU, quantity=1),),
    )


def stack_pids(paths: StackPaths) -> list[int]:
    """This process and every process of the stack (servers and workers)."""
    pids = [os.getpid()]
    status = Status.load(paths)
    if status is not None:
        for pid in status.processes.values():
            pids.append(pid)
            with contextlib.suppress(psutil.Error):
                pids.extend(c.pid for c in psutil.Process(pid).children(recursive=True))
    return pids


async def restock(info: StackInfo, needed: int) -> None:
    """Make sure the bench SKU has ``needed`` units (a kept ``.orders/bench`` runs dry).

    The benchmark's stack home is its own: topping up as the Postgres admin touches no
    other stack's stock.
    """
    conn = await asyncpg.connect(info.postgres_admin_dsn)
    try:
        await conn.execute(
            "UPDATE orders.inventory SET available = GREATEST(available, $2) WHERE sku = $1",
            BENCH_SKU,
            needed,
        )
    finally:
        await conn.close()


def fresh_temporal_store(paths: StackPaths) -> int:
    """Empty the bench stack's Temporal store before a run; the bytes removed.

    The dev server keeps every history of every earlier run in one SQLite file (a kept
    ``.orders/bench`` had grown to 1.5 GB), and both configurations share that server: a
    run must not measure how many runs came before it. Only while the stack is down: a
    live server's file is never touched (the run then measures the store as it is; its
    size at the start is in the results' ``meta``).
    """
    if control.supervisor_process(paths) is not None:
        return 0
    removed = 0
    for suffix in ("", "-wal", "-shm"):
        path = paths.temporal_db.with_name(paths.temporal_db.name + suffix)
        with contextlib.suppress(FileNotFoundError):
            removed += path.stat().st_size
            path.unlink()
    return removed


async def static_credential(info: StackInfo) -> tuple[str, str]:
    """The plain configuration's one long-lived Postgres login, member of every group."""
    user, password = "bench_static", secrets.token_urlsafe(18)
    conn = await asyncpg.connect(info.postgres_admin_dsn)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", user)
        verb = "ALTER" if exists else "CREATE"
        await conn.execute(f"{verb} ROLE {user} LOGIN PASSWORD '{password}'")
        for ident in identities.db_identities():
            if not ident.owns_schema:
                await conn.execute(f'GRANT "{ident.db_group}" TO {user}')
    finally:
        await conn.close()
    return user, password


def plain_tls(paths: StackPaths) -> TLSConfig:
    """Straight to the frontend, as teams often run it: no authorization front.

    The dev server is reachable only through its bridge, which wants a certificate of the
    internode CA: plain uses the front's own (the bench runs as the stack's operator).
    """
    cert, key = paths.server_cert(servers.FRONT_CLIENT_CERT)
    return TLSConfig(
        server_root_ca_cert=(paths.tls / servers.INTERNODE_CA).read_bytes(),
        domain=pki_names.TEMPORAL_FRONTEND_NAME,
        client_cert=cert.read_bytes(),
        client_private_key=key.read_bytes(),
    )


@contextlib.asynccontextmanager
async def plain_relay(paths: StackPaths) -> AsyncIterator[str]:
    """A TCP port relaying bytes to the bridge's Unix socket (nginx, as the bridge itself).

    The SDK dials TCP only; the relay adds one byte-copying hop in C, so plain pays about
    what the bridge costs hardened and the difference measured is the front's.
    """
    port = servers.free_port()
    frontend, _ = servers.bridge_sockets(paths)
    config = f"""
stream {{
  server {{
    listen {servers.HOST}:{port};
    proxy_pass unix:{frontend};
    proxy_timeout 1h;
  }}
}}
"""
    # The bridge's socket is its owner's alone: the relay's worker runs as that owner.
    relay = servers.nginx_front(
        paths, "bench-relay", "nginx-bench", config, servers.NGINX_STREAM, worker_user="root"
    )
    relay.start()
    try:
        for _ in range(50):
            with contextlib.suppress(OSError):
                _, writer = await asyncio.open_connection(servers.HOST, port)
                writer.close()
                break
            await asyncio.sleep(0.1)
        yield f"{servers.HOST}:{port}"
    finally:
        relay.restart = False
        await asyncio.to_thread(relay.stop, 10.0)


@contextlib.asynccontextmanager
async def plain_setup(info: StackInfo, paths: StackPaths) -> AsyncIterator[tuple[Client, Sealer]]:
    """One process, every queue, a static credential, no codec, in its own namespace."""
    tls = plain_tls(paths)
    async with plain_relay(paths) as address, _plain_workers(info, address, tls) as ready:
        yield ready


@contextlib.asynccontextmanager
async def _plain_workers(
    info: StackInfo, address: str, tls: TLSConfig
) -> AsyncIterator[tuple[Client, Sealer]]:
    base = await Client.connect(address, namespace=info.namespace, tls=tls)
    with contextlib.suppress(Exception):  # already registered by an earlier run
        await base.workflow_service.register_namespace(
            RegisterNamespaceRequest(
                namespace=PLAIN_NAMESPACE,
                workflow_execution_retention_period=timedelta(days=1),  # type: ignore[arg-type]
            )
        )
    client = await Client.connect(
        address,
        namespace=PLAIN_NAMESPACE,
        data_converter=pydantic_data_converter,
        tls=tls,
    )
    user, password = await static_credential(info)
    engine = create_async_engine(
        f"postgresql+asyncpg://{user}:{password}@{info.postgres_host}:{info.postgres_port}/"
        f"{info.database}",
        connect_args=(
            {"ssl": ssl_context(Path(info.ca_file)), "direct_tls": True} if info.ca_file else {}
        ),
        pool_size=20,
        max_overflow=20,
    )
    unused = TransitClient("http://127.0.0.1:9", lambda: "")  # never called: local rings
    rings = {s.key: LocalKeyRing(unused, s.key) for s in transit_names.SEALED_FIELDS}
    customers = LocalCustomerKeys(unused)
    workers = []
    for ident in identities.workers():
        if ident.kind is identities.Kind.WORKFLOW:
            workers.append(
                Worker(
                    client,
                    task_queue=ident.task_queue,
                    workflows=[OrderWorkflow],
                    workflow_runner=workflow_runner(),  # the same sandbox as hardened
                )
            )
        else:
            unsealer = Unsealer(unused, ident, rings=rings, customers=customers)
            workers.append(
                Worker(
                    client,
                    task_queue=ident.task_queue,
                    activities=activities_for(ident, engine, unsealer),
                    max_concurrent_activities=50,
                )
            )
    async with contextlib.AsyncExitStack() as stack:
        for worker in workers:
            await stack.enter_async_context(worker)
        yield client, Sealer(unused, rings=rings, customers=customers)
    await engine.dispose()
    await unused.aclose()


def placer(client: Client, prefix: str, sealer: Sealer | None) -> Callable[[int], Awaitable[bool]]:
    """Place order ``i`` and wait for it; True when it completed."""

    async def go(i: int) -> bool:
        order = make_order(prefix, i)
        if sealer is None:
            handle = await orders_client.place(client, order)
        else:
            sealed: SealedOrder = await sealer.seal_order(order)
            handle = await client.start_workflow(
                OrderWorkflow.run,
                sealed,
                id=sealed.workflow_id,
                task_queue=identities.ORDER_WORKFLOW.task_queue,
            )
        result = await handle.result()
        return result.outcome is Outcome.COMPLETED

    return go


async def phase(
    name: str,
    place: Callable[[int], Awaitable[bool]],
    orders: int,
    concurrency: int,
    info: StackInfo,
    paths: StackPaths,
    progress: Progress,
) -> PhaseResult:
    """Run one batch of orders and read the counters around it."""
    audit = paths.log_file("openbao-audit")
    pids = stack_pids(paths)
    task = progress.add_task(name, total=orders)
    before = await read_counters(audit, info.postgres_admin_dsn, pids)
    front_before = front_cpu(paths)
    latencies, failed, seconds = await run_load(
        place, orders, concurrency, lambda: progress.advance(task)
    )
    await asyncio.sleep(0.2)
    after = await read_counters(audit, info.postgres_admin_dsn, pids)
    result = summarise(name, latencies, failed, seconds, before, after)
    per_order = (front_cpu(paths) - front_before) / max(result.orders, 1)
    return dataclasses.replace(result, front_cpu_seconds_per_order=round(per_order, 5))


def front_cpu(paths: StackPaths) -> float:
    """CPU seconds the authorization front has used so far."""
    status = Status.load(paths)
    pid = status.processes.get("temporal-front") if status else None
    if pid is None:
        return 0.0
    with contextlib.suppress(psutil.Error):
        times = psutil.Process(pid).cpu_times()
        return float(times.user + times.system)
    return 0.0


def combine(name: str, parts: list[PhaseResult]) -> PhaseResult:
    """Weighted combination of alternating rounds of one configuration."""
    n = sum(p.orders for p in parts)
    secs = sum(p.seconds for p in parts)

    def wavg(attr: str) -> float:
        total: float = sum(float(getattr(p, attr)) * p.orders for p in parts)
        return round(total / n, 5)

    return PhaseResult(
        name=name,
        orders=n,
        seconds=round(secs, 3),
        throughput=round(sum(p.throughput * p.seconds for p in parts) / secs, 3),
        p50_ms=wavg("p50_ms"),
        p95_ms=wavg("p95_ms"),
        p99_ms=wavg("p99_ms"),
        vault_requests_per_order=wavg("vault_requests_per_order"),
        vault_transit_requests_per_order=wavg("vault_transit_requests_per_order"),
        pg_sessions_per_order=wavg("pg_sessions_per_order"),
        cpu_seconds_per_order=wavg("cpu_seconds_per_order"),
        failed=sum(p.failed for p in parts),
        front_cpu_seconds_per_order=wavg("front_cpu_seconds_per_order"),
        cpu_ms_per_order_by_process={
            label: round(
                sum(p.cpu_ms_per_order_by_process.get(label, 0.0) * p.orders for p in parts) / n, 2
            )
            for label in sorted({k for p in parts for k in p.cpu_ms_per_order_by_process})
        },
    )


def round_ratios(plain: list[PhaseResult], hard: list[PhaseResult]) -> list[float]:
    """Hardened/plain throughput of each round, in the order the rounds ran.

    The rounds of one run already disagree by several hundredths on this machine kind (and
    runs by more): the spread says how far a single run's ratio can be read.
    """
    return [round(h.throughput / p.throughput, 3) for p, h in zip(plain, hard, strict=True)]


def report(plain: PhaseResult, hard: PhaseResult, meta: dict[str, Any]) -> dict[str, Any]:
    """Print the table and return the JSON report."""
    rows = [
        ("throughput (orders/s)", "throughput", True),
        ("p50 latency (ms)", "p50_ms", True),
        ("p95 latency (ms)", "p95_ms", True),
        ("p99 latency (ms)", "p99_ms", True),
        ("Vault requests / order (all)", "vault_requests_per_order", False),
        ("Vault requests / order (payload path)", "vault_transit_requests_per_order", False),
        ("new Postgres sessions / order", "pg_sessions_per_order", False),
        ("CPU seconds / order (stack + client)", "cpu_seconds_per_order", True),
        ("CPU seconds / order (authorization front)", "front_cpu_seconds_per_order", False),
        ("failed orders", "failed", False),
    ]
    table = Table(title=f"hardened vs plain — {meta['orders_per_config']} orders each")
    for col in ("metric", "plain", "hardened", "hardened / plain"):
        table.add_column(col, justify="right" if col != "metric" else "left")
    ratios: dict[str, float] = {}
    for label, attr, ratio in rows:
        p, h = getattr(plain, attr), getattr(hard, attr)
        r = round(h / p, 3) if ratio and p else None
        if r is not None:
            ratios[attr] = r
        table.add_row(label, str(p), str(h), "" if r is None else f"{r:.3f}")
    console.print(table)
    by_process = Table(title="CPU ms / order by process")
    for col in ("process", "plain", "hardened"):
        by_process.add_column(col, justify="right" if col != "process" else "left")
    for proc in sorted({*plain.cpu_ms_per_order_by_process, *hard.cpu_ms_per_order_by_process}):
        cells = (plain.cpu_ms_per_order_by_process, hard.cpu_ms_per_order_by_process)
        by_process.add_row(proc, *(str(c[proc]) if proc in c else "" for c in cells))
    console.print(by_process)
    return {"meta": meta, "plain": plain.as_dict(), "hardened": hard.as_dict(), "ratios": ratios}


def plot(data: dict[str, Any], path: Path) -> bool:
    """A small PNG of the ratios (skipped when matplotlib is not installed)."""
    try:
        import matplotlib  # type: ignore[import-not-found, unused-ignore]

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        return False
    ratios = data["ratios"]
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.barh(list(ratios), list(ratios.values()), color="#4a7ab5")
    ax.axvline(1.0, color="grey", linestyle="--")
    ax.set_xlabel("hardened / plain")
    ax.set_title("Cost of the security layers (same workload, same run)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return True


async def main_async(args: argparse.Namespace) -> int:
    """Start the stack, run warm-up and alternating rounds, report, stop."""
    paths = StackPaths(Path(args.home).resolve())
    os.environ["ORDERS_HOME"] = str(paths.home)
    removed = fresh_temporal_store(paths)
    if removed:
        console.print(f"emptied the bench's Temporal store ({removed / 2**20:.0f} MiB)")
    console.print(f"starting the stack under {paths.home} …")
    # Production-like lifetimes: the demo's short TTLs (60 s/300 s) exist to show renewal,
    # and their background renewals would dominate "Vault requests per order".
    control.up(
        paths,
        control.UpOptions(db_ttl=900, db_max_ttl=3600, token_ttl=1800, token_max_ttl=7200),
    )
    info = StackInfo.load(paths)
    store_at_start = paths.temporal_db.stat().st_size
    await restock(info, 2 * (args.orders + args.warmup) + 100)
    results: dict[str, list[PhaseResult]] = {"plain": [], "hardened": []}
    try:
        async with (
            actas.temporal_client(info, paths) as hardened,
            plain_setup(info, paths) as (plain, local_sealer),
        ):
            run_id = uuid.uuid4().hex[:6]
            places = {
                "plain": placer(plain, f"plain-{run_id}", local_sealer),
                "hardened": placer(hardened, f"hard-{run_id}", None),
            }
            with Progress(console=console) as progress:
                for name, place in places.items():  # warm-up: connections, caches, JIT paths
                    await phase(
                        f"warm-up {name}",
                        place,
                        args.warmup,
                        args.concurrency,
                        info,
                        paths,
                        progress,
                    )
                for rnd in range(args.rounds):
                    for name in ("plain", "hardened") if rnd % 2 == 0 else ("hardened", "plain"):
                        res = await phase(
                            f"{name} round {rnd + 1}", places[name], args.orders // args.rounds,
                            args.concurrency, info, paths, progress,
                        )  # fmt: skip
                        results[name].append(res)
    finally:
        if not args.keep:
            control.down(paths)
    meta = {
        "orders_per_config": args.orders,
        "rounds": args.rounds,
        "concurrency": args.concurrency,
        "cpus": os.cpu_count(),
        "machine": os.uname().machine,
        "temporal_store_bytes_at_start": store_at_start,
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    data = report(
        combine("plain", results["plain"]), combine("hardened", results["hardened"]), meta
    )
    data["round_ratios"] = round_ratios(results["plain"], results["hardened"])
    console.print(f"throughput ratio of each round: {data['round_ratios']}")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    write_json(RESULTS / f"bench-{stamp}.json", data)
    if plot(data, RESULTS / f"bench-{stamp}.png"):
        console.print(f"plot: {RESULTS / f'bench-{stamp}.png'}")
    console.print(f"results: {RESULTS / f'bench-{stamp}.json'}")
    return 0


def main() -> None:
    """Parse arguments and run."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--orders", type=int, default=400, help="orders per configuration")
    ap.add_argument("--rounds", type=int, default=2, help="alternating rounds per configuration")
    ap.add_argument("--warmup", type=int, default=CUSTOMERS)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--home", default=str(PROJECT_ROOT / ".orders" / "bench"))
    ap.add_argument("--keep", action="store_true", help="leave the stack running")
    raise SystemExit(asyncio.run(main_async(ap.parse_args())))


if __name__ == "__main__":
    main()
