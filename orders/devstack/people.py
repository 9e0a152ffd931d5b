"""The dev stack's people: who they are, their generated passwords, and creating them.

Only the dev stack has local people with passwords; a real deployment brings its own
identity provider (see :mod:`orders.vault.people`, which configures OpenBao for any people
source). Passwords are generated once into ``.orders/dev/secrets/`` (0600), never stored in
the repository.
"""

from __future__ import annotations

from typing import Final

import hvac

from orders.contract import approval_policy
from orders.devstack.state import StackPaths
from orders.vault import people as vault_people

DEV_USERS: Final[dict[str, tuple[str, ...]]] = {
    "dev-viewer": ("order-viewers",),
    "dev-other-viewer": ("billing-viewers",),
    "dev-no-group": (),
}
"""Users the dev stack creates, with their groups. Passwords are generated, never stored here.
Active approvers (``orders.contract.approval_policy.APPROVERS``) are added as members of
``order-approvers``; inactive ones keep their login and key but no group (no signing)."""

DEV_APPROVER_GROUPS: Final[dict[str, tuple[str, ...]]] = {"dave": ("order-operators",)}
"""Approvers who are also in other people groups on the dev stack: dave may place orders
(``orders:write``), which shows the workflow refusing his approval of an order he placed."""


def dev_password_name(user: str) -> str:
    """Name of the secret file holding a dev person's password (approvers: ``approver-<name>``)."""
    if any(a.name == user for a in approval_policy.APPROVERS):
        return approval_policy.approver_key(user)
    return f"user-{user}"


def dev_people() -> dict[str, tuple[str, ...]]:
    """Every dev person with their people groups: :data:`DEV_USERS` plus the approvers.

    An inactive approver is in no group: Vault refuses their signature outright, besides the
    workflow rejecting it (an approval they signed while still active is still refused).
    """
    people = dict(DEV_USERS)
    for approver in approval_policy.APPROVERS:
        groups = (vault_people.APPROVERS_GROUP, *DEV_APPROVER_GROUPS.get(approver.name, ()))
        people[approver.name] = groups if approver.active else ()
    return people


def ensure_dev_users(client: hvac.Client, paths: StackPaths) -> list[str]:
    """Create the dev people (passwords generated once, 0600) and set group membership.

    Everyone carries only the person policy; what an approver may sign comes from the
    ``order-approvers`` group, so removing someone from the group removes the right.

    Returns:
        The user names.
    """
    accessor = vault_people.userpass_accessor(client)
    members: dict[str, list[str]] = {group: [] for group in vault_people.PEOPLE_GROUPS}
    for user, groups in dev_people().items():
        client.write_data(
            f"auth/{vault_people.USERPASS_MOUNT}/users/{user}",
            data={
                "password": paths.secret(dev_password_name(user)),
                "token_policies": [vault_people.PERSON_POLICY],
                "token_no_default_policy": True,
                # Only used to authorize one OIDC request (or one signature), then revoked.
                "token_ttl": 300,
                "token_max_ttl": 600,
                "token_type": "service",
            },
        )
        entity_id = vault_people.ensure_entity(client, user, accessor)
        for group in groups:
            members[group].append(entity_id)
    for group, ids in members.items():
        client.write_data(f"identity/group/name/{group}", data={"member_entity_ids": ids})
    return list(dev_people())


def dev_password(paths: StackPaths, user: str) -> str:
    """A dev person's password (read from ``.orders/dev/secrets/``)."""
    path = paths.secrets / dev_password_name(user)
    if user not in dev_people() or not path.exists():
        raise vault_people.PersonLoginError(
            f"no dev user {user!r}; known: {', '.join(dev_people())}"
        )
    return path.read_text().strip()
