"""Reading Vault policies offline: their stanzas, Vault's path-glob rules, the shipped set."""

from __future__ import annotations

import re

from orders.vault import approvers as vault_approvers
from orders.vault.policy import shipped

STANZA = re.compile(r'path\s+"([^"]+)"\s*{\s*capabilities\s*=\s*\[([^\]]*)\]')


def stanzas(text: str) -> list[tuple[str, set[str]]]:
    """(path, capabilities) of every stanza of a policy, in order."""
    return [
        (path, {c.strip().strip('"') for c in caps.split(",") if c.strip()})
        for path, caps in STANZA.findall(text)
    ]


def matches(pattern: str, path: str) -> bool:
    """Vault's ACL path rules: ``+`` is one segment, a trailing ``*`` any suffix."""
    regex = re.escape(pattern).replace(r"\+", "[^/]+")
    if regex.endswith(r"\*"):
        regex = regex[:-2] + ".*"
    return re.fullmatch(regex, path) is not None


def workload_policies() -> dict[str, str]:
    """Every policy something other than a setup step can carry, by name.

    The identities' (``vault/policies``), persons' (``vault/people``), KEDA's operator's
    (``vault/autoscaler``) and the approvers' group policy.
    """
    found = {
        f.name.removesuffix(".hcl"): f.read_text()
        for kind in ("policies", "people", "autoscaler")
        for f in shipped(kind).iterdir()
        if f.name.endswith(".hcl")
    }
    found[vault_approvers.GROUP_POLICY] = vault_approvers.group_policy()
    return found


def reaches(policy: str, path: str) -> bool:
    """Whether any allow stanza of ``policy`` matches ``path``."""
    return any(matches(pattern, path) for pattern, caps in stanzas(policy) if not caps <= {"deny"})
