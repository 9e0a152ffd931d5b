"""The identity contract keeps the negatives ARCHITECTURE.md promises.

These hold whatever the contract says elsewhere: widening the contract so that it breaks
one of them fails here even before the privilege matrix runs against Postgres.
"""

from __future__ import annotations

import re

import pytest

from orders.contract import identities
from orders.contract.identities import Kind, Privilege

PAYMENT_IDENTITIES = {identities.ORDER_PROCESS_PAYMENT.name, identities.ORDER_REFUND_PAYMENT.name}
INVENTORY_WRITERS = {
    identities.ORDER_RESERVE_INVENTORY.name,
    identities.ORDER_RELEASE_INVENTORY.name,
}


def test_names_are_unique_and_well_formed() -> None:
    names = [i.name for i in identities.ALL]
    assert len(names) == len(set(names))
    for name in names:
        assert re.fullmatch(r"[a-z][a-z0-9-]{2,40}", name), name


def test_every_name_is_derived_from_the_identity() -> None:
    for ident in identities.ALL:
        assert {
            ident.task_queue,
            ident.service_account,
            ident.vault_role,
            ident.vault_policy,
            ident.db_role,
        } == {ident.name}
        assert ident.db_group == "grp_" + ident.name.replace("-", "_")


def test_one_worker_per_activity_identity_plus_workflow() -> None:
    workers = list(identities.workers())
    assert workers[0] is identities.ORDER_WORKFLOW
    activity_identities = [i for i in identities.ALL if i.kind is Kind.ACTIVITY]
    workflow_identities = [i for i in identities.ALL if i.kind is Kind.WORKFLOW]
    assert len(workers) == len(workflow_identities) + len(activity_identities)
    activities = [a for w in workers for a in w.activities]
    assert (
        len(activities)
        == len(set(activities))
        == sum(len(i.activities) for i in activity_identities)
    )
    for activity in activities:
        assert identities.activity_identity(activity).kind is Kind.ACTIVITY


def test_workflow_client_and_codec_have_no_database_role() -> None:
    for ident in (identities.ORDER_WORKFLOW, identities.ORDER_CLIENT, identities.CODEC_SERVER):
        assert not ident.has_db_role
        assert ident.grants == ()


def test_no_identity_may_delete_or_truncate() -> None:
    for ident in identities.ALL:
        for grant in ident.grants:
            assert Privilege.DELETE not in grant.privileges, ident.name
            assert Privilege.TRUNCATE not in grant.privileges, ident.name
            for priv, _ in grant.columns:
                assert priv not in (Privilege.DELETE, Privilege.TRUNCATE), ident.name


def test_only_payment_identities_touch_payments() -> None:
    touching = {i.name for i in identities.ALL if i.grant_for("payments") is not None}
    assert touching == PAYMENT_IDENTITIES


def test_only_reserve_and_release_update_inventory() -> None:
    updaters = {
        i.name
        for i in identities.ALL
        if (g := i.grant_for("inventory")) is not None and g.allows(Privilege.UPDATE)
    }
    assert updaters == INVENTORY_WRITERS


def test_pii_columns_are_read_only_by_their_consumer() -> None:
    for column, consumer in (
        ("shipping_address", identities.ORDER_FULFILL),
        ("customer_email", identities.ORDER_NOTIFY),
    ):
        readers = {
            i.name
            for i in identities.ALL
            if (g := i.grant_for("orders")) is not None and g.allows(Privilege.SELECT, column)
        }
        assert readers == {consumer.name}, column


def test_grants_name_known_tables_only() -> None:
    for ident in identities.ALL:
        for grant in ident.grants:
            assert grant.table in identities.TABLES, (ident.name, grant.table)


def test_lookup_errors_name_the_known_identities() -> None:
    with pytest.raises(KeyError, match="order-validate"):
        identities.get("order-nope")
