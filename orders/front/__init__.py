"""The authorization front: least privilege at the orchestration layer.

Temporal's own authorization is namespace-wide: a ``write`` role may poll any task queue,
complete any activity by id, signal and terminate anything. Temporal has no task-queue ACL
(temporalio/proposals#58). Every worker, client and person therefore reaches the Temporal
frontend only through this gRPC front, which authenticates the caller (client certificate
or a person's token) and allows exactly what the identity contract grants
(:func:`orders.contract.temporal_access.temporal_access`), as rendered into
:mod:`orders.front.rules`.
"""
