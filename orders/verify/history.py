"""Raw-history PII scan: what anyone with Temporal read access sees holds no personal data.

Orders carrying marker PII run through the deployment; their stored histories, read raw
(no codec), must contain none of the markers, no failure text and only encrypted payloads.
Shared by ``orders verify`` and ``tests/integration/security/test_history_pii.py``.
"""

from __future__ import annotations

from orders.models import OrderItem, OrderRequest

FAILURE_TEXTS = ("insufficient stock", "declined", "undeliverable", "Traceback")
ENCRYPTED_MARKERS = ("binary/encrypted", "YmluYXJ5L2VuY3J5cHRlZA==")
"""The codec's encoding, as the CLI's JSON shows it (plain or base64)."""


def pii_order(tag: str, name: str, sku: str, *, ref: str = "", address: str = "") -> OrderRequest:
    """An order whose personal fields are unique markers (neutral names: ids are visible)."""
    return OrderRequest(
        order_id=f"pii-{tag}-{name}",
        customer_id=f"cust-{tag}",
        customer_email=f"{name}.{tag}@private.example",
        shipping_address=address or f"{tag} Confidential Close, {name.title()}ville",
        payment_reference=ref or f"tok-{tag}-{name}",
        items=(OrderItem(sku=sku, quantity=1),),
    )


def leaks(raw: str, order: OrderRequest) -> list[str]:
    """What ``raw`` (a history as stored) reveals of ``order``: must be nothing."""
    found = [
        f"{order.order_id}: {field} in raw history"
        for field in ("customer_email", "shipping_address", "payment_reference")
        if getattr(order, field) in raw
    ]
    found += [
        f"{order.order_id}: failure text {t!r} in raw history" for t in FAILURE_TEXTS if t in raw
    ]
    if not any(m in raw for m in ENCRYPTED_MARKERS):
        found.append(f"{order.order_id}: no encrypted payload in raw history")
    return found
