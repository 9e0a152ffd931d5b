"""The contract: every identity, grant, key, approver and Temporal permission, named once.

Modules: :mod:`.identities` (identities, task queues, database grants),
:mod:`.transit_names` (payload key, sealed fields), :mod:`.approval_policy`,
:mod:`.temporal_access` (what the authorization front allows), :mod:`.api` (the
workflow's public names), :mod:`.pki_names` and :mod:`.keda` (KEDA's scaler as a
principal). Vault configuration, manifests, the front's rules and the tests are generated
from these modules or checked against them.
"""
