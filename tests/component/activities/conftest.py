"""Fixtures for activity tests: real Postgres and OpenBao, restricted per identity.

Postgres is migrated, with one engine per identity's role; OpenBao has the real Transit
keys and policies, so orders are sealed and unsealed exactly as in production.
"""

import pytest

from orders.contract import identities
from orders.security.sealing import Sealer
from tests.support.activities import Engines, Unsealers
from tests.support.openbao import Transits, dev_vault, transits
from tests.support.postgres import OrdersDb, orders_db, pg_cluster

__all__ = ["dev_vault", "engines", "orders_db", "pg_cluster", "sealer", "transits", "unsealers"]


@pytest.fixture(scope="session")
def engines(orders_db: OrdersDb) -> Engines:
    """Engines that connect as each identity's (restricted) database role."""
    return Engines(orders_db)


@pytest.fixture(scope="session")
def sealer(transits: Transits) -> Sealer:
    """Seals orders as the client does (order-client's token)."""
    return Sealer(transits(identities.ORDER_CLIENT))


@pytest.fixture(scope="session")
def unsealers(transits: Transits) -> Unsealers:
    """Each identity's unsealer, holding that identity's own token."""
    return Unsealers(transits)
