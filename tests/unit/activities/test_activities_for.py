"""activities_for: exactly an identity's activities, bound to its engine and unsealer."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from temporalio import activity

from activities import ACTIVITY_CLASSES, activities_for
from orders.contract import identities
from orders.contract.identities import Kind
from orders.contract.transit_names import SEALED_FIELDS
from orders.security.sealing import Unsealer
from orders.security.transit import TransitClient

ACTIVITY_IDENTITIES = [i for i in identities.ALL if i.kind is Kind.ACTIVITY]
CONSUMERS = [s.consumer for s in SEALED_FIELDS]


def _name(fn: object) -> str:
    defn = activity._Definition.from_callable(fn)  # type: ignore[arg-type]
    assert defn is not None, fn
    return defn.name or ""


def _engine() -> AsyncEngine:
    return create_async_engine("postgresql+asyncpg://nobody@127.0.0.1:1/none")


def _unsealer(identity: identities.Identity) -> Unsealer:
    # Never used to call Vault here: wiring only (the client connects lazily).
    return Unsealer(TransitClient("http://127.0.0.1:1", lambda: "unused"), identity)


@pytest.mark.parametrize("identity", ACTIVITY_IDENTITIES, ids=lambda i: i.name)
def test_exactly_the_identitys_activities(identity: identities.Identity) -> None:
    engine = _engine()
    unsealer = _unsealer(identity)
    fns = activities_for(identity, engine, unsealer)
    assert [_name(fn) for fn in fns] == list(identity.activities)
    for fn in fns:
        assert getattr(fn, "__self__", None) is not None, "must be a bound method"
        assert fn.__self__._engine is engine  # type: ignore[attr-defined]
        assert fn.__self__._unsealer is unsealer  # type: ignore[attr-defined]


def test_every_activity_identity_has_a_class_and_no_other() -> None:
    assert set(ACTIVITY_CLASSES) == {i.name for i in ACTIVITY_IDENTITIES}
    all_activities = [a for i in ACTIVITY_IDENTITIES for a in i.activities]
    defined = [
        _name(getattr(cls, name))
        for cls in ACTIVITY_CLASSES.values()
        for name in cls.identity.activities
    ]
    assert sorted(defined) == sorted(all_activities)


@pytest.mark.parametrize(
    "identity",
    [i for i in identities.ALL if i.kind is not Kind.ACTIVITY],
    ids=lambda i: i.name,
)
def test_identities_without_activities_are_refused(identity: identities.Identity) -> None:
    with pytest.raises(ValueError, match=identity.name):
        activities_for(identity, _engine(), _unsealer(identity))


@pytest.mark.parametrize("identity", ACTIVITY_IDENTITIES, ids=lambda i: i.name)
def test_another_identitys_unsealer_is_refused(identity: identities.Identity) -> None:
    # Caught when the worker is built, not on the first order.
    other = next(c for c in CONSUMERS if c != identity)
    with pytest.raises(ValueError, match=other.name):
        activities_for(identity, _engine(), _unsealer(other))


@pytest.mark.parametrize("identity", CONSUMERS, ids=lambda i: i.name)
def test_consumers_of_sealed_fields_need_an_unsealer(identity: identities.Identity) -> None:
    with pytest.raises(ValueError, match="Unsealer"):
        ACTIVITY_CLASSES[identity.name](_engine())


def test_other_identities_need_none() -> None:
    for identity in ACTIVITY_IDENTITIES:
        if identity not in CONSUMERS:
            assert ACTIVITY_CLASSES[identity.name](_engine()).definitions()
