"""activities_for: exactly an identity's activities, bound to its engine."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import create_async_engine
from temporalio import activity

from activities import ACTIVITY_CLASSES, activities_for
from orders import identities
from orders.identities import Kind

ACTIVITY_IDENTITIES = [i for i in identities.ALL if i.kind is Kind.ACTIVITY]


def _name(fn: object) -> str:
    defn = activity._Definition.from_callable(fn)  # type: ignore[arg-type]
    assert defn is not None, fn
    return defn.name or ""


@pytest.mark.parametrize("identity", ACTIVITY_IDENTITIES, ids=lambda i: i.name)
def test_exactly_the_identitys_activities(identity: identities.Identity) -> None:
    engine = create_async_engine("postgresql+asyncpg://nobody@127.0.0.1:1/none")
    fns = activities_for(identity, engine)
    assert [_name(fn) for fn in fns] == list(identity.activities)
    for fn in fns:
        assert getattr(fn, "__self__", None) is not None, "must be a bound method"
        assert fn.__self__._engine is engine  # type: ignore[attr-defined]


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
    engine = create_async_engine("postgresql+asyncpg://nobody@127.0.0.1:1/none")
    with pytest.raises(ValueError, match=identity.name):
        activities_for(identity, engine)
