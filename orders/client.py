"""Client-side operations on orders (used by the CLI, the demo and the tests)."""

from __future__ import annotations

import json
import re
import weakref
from typing import Any

from pydantic import ValidationError
from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy

from orders.approvals import AcceptedApproval
from orders.contract import api, identities
from orders.models import ApprovalPolicy, OrderItem, OrderRequest, OrderStatus, workflow_id_for
from orders.security.codec import EnvelopeCodec
from orders.security.sealing import Sealer
from orders.security.transit import TransitClient

_QUANTITY = re.compile(r"\s*-?[0-9]{1,12}\s*")


class InvalidOrderError(ValueError):
    """An order that was refused before anything was started or written.

    The message names each offending field and never repeats its value (it may be PII).
    """

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{field}: {msg}" for field, msg in problems))


def parse_order(data: dict[str, Any]) -> OrderRequest:
    """Validate an order.

    Raises:
        InvalidOrderError: Naming every invalid or missing field.
    """
    try:
        return OrderRequest.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        problems = [
            (".".join(str(p) for p in err["loc"]) or "order", err["msg"])
            for err in errors
            if not _follows_from_child(err, errors)
        ]
        raise InvalidOrderError(problems) from None


def _follows_from_child(err: Any, errors: list[Any]) -> bool:
    """A list's "too short after validation" only echoes its refused item: leave it out."""
    loc = tuple(err["loc"])
    return err["type"] == "too_short" and any(
        len(other["loc"]) > len(loc) and tuple(other["loc"][: len(loc)]) == loc for other in errors
    )


def json_object(text: str, field: str) -> dict[str, Any]:
    """Parse ``text`` as a JSON object.

    Raises:
        InvalidOrderError: Naming ``field``: not JSON, or not an object.
    """
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidOrderError([(field, f"not valid JSON (line {exc.lineno})")]) from None
    if not isinstance(data, dict):
        raise InvalidOrderError([(field, "must be a JSON object")])
    return data


def parse_items(specs: list[str]) -> list[dict[str, Any]]:
    """``["SKU-1:2", ...]`` -> item dicts (validation happens in the model)."""
    items: list[dict[str, Any]] = []
    for spec in specs:
        sku, sep, qty = spec.partition(":")
        # ASCII digits only: str.isdigit() also accepts "²", which int() then refuses.
        if not sep or not _QUANTITY.fullmatch(qty):
            raise InvalidOrderError([("items", f"expected SKU:QUANTITY, got {spec!r}")])
        items.append(OrderItem.model_construct(sku=sku.strip(), quantity=int(qty)).__dict__)
    return items


_SEALERS: weakref.WeakKeyDictionary[TransitClient, Sealer] = weakref.WeakKeyDictionary()


def sealer_for(client: Client) -> Sealer:
    """The client's one Sealer (its field data keys are cached across orders)."""
    codec = client.data_converter.payload_codec
    if not isinstance(codec, EnvelopeCodec):
        raise TypeError("orders are placed only through a client made by orders.temporal")
    sealer = _SEALERS.get(codec.transit)
    if sealer is None:
        sealer = _SEALERS[codec.transit] = Sealer(codec.transit)
    return sealer


async def place(
    client: Client, order: OrderRequest, approval: ApprovalPolicy | None = None
) -> WorkflowHandle[Any, OrderStatus]:
    """Seal the need-to-know fields, then start the order's workflow.

    ``approval`` tightens the approval policy for this order (lower thresholds, a shorter
    deadline); the contract's values are ceilings the model enforces.

    The seals use the client's own Transit access (through its codec); the workflow input
    carries only sealed values for the payment reference, address and e-mail.

    An order id is used once: the start is refused while the order's workflow runs and
    after it has closed, whatever its outcome (a rejected order is not placed again under
    its id; the customer places a new order).

    Raises:
        VaultUnavailableError: Vault unreachable; nothing was started, retry.
        temporalio.exceptions.WorkflowAlreadyStartedError: The order id was already placed.
    """
    sealed = await sealer_for(client).seal_order(order)
    if approval is not None:
        sealed = sealed.model_copy(update={"approval": approval})
    return await client.start_workflow(
        api.ORDER_WORKFLOW_TYPE,
        sealed,
        result_type=OrderStatus,
        id=sealed.workflow_id,
        task_queue=identities.ORDER_WORKFLOW.task_queue,
        # Never a second run for an order id: not after it closed (any outcome), not while
        # it runs. ALLOW_DUPLICATE would let a new run replace a rejected order's amount.
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
        # Memo is encrypted by the codec like every payload; keep it free of PII anyway.
        memo={"customer_id": order.customer_id, "items": len(order.items)},
    )


async def status(client: Client, order_or_workflow_id: str) -> OrderStatus:
    """Query an order's status by order id or workflow id."""
    wid = (
        order_or_workflow_id
        if order_or_workflow_id.startswith("order-")
        else workflow_id_for(order_or_workflow_id)
    )
    handle = client.get_workflow_handle(wid)
    result: OrderStatus = await handle.query(api.STATUS_QUERY, result_type=OrderStatus)
    return result


async def approve(
    client: Client,
    order_or_workflow_id: str,
    *,
    approver: str,
    password: str,
    vault_addr: str,
    decision: str = "approve",
    via_signal: bool = False,
    valid_for_seconds: int = 900,
    verify: str | bool = True,
) -> AcceptedApproval | None:
    """Build an approval from the order's ``status``, have ``approver`` sign it, send it.

    The message binds this client's namespace, the workflow id, the order id and the
    validated amount and currency the workflow reports; Vault signs it with the approver's
    own Transit key under the approver's own login (the client identity cannot sign).

    Returns:
        The accepted approval (Update), or None when sent as a fire-and-forget signal (check
        ``status`` for the outcome: a refused signal only increments ``rejected_signals``).

    Raises:
        ApprovalRefusedError: The workflow's validator refused it (with the reason).
        PersonLoginError: Wrong approver password, or Vault refused to sign.
        ValueError: The order is not awaiting approval.
    """
    import secrets
    from datetime import UTC, datetime, timedelta

    from orders.approvals import Decision, SignedApproval, canonical_bytes, new_message
    from orders.models import Step
    from orders.vault.approvers import sign_as

    current = await status(client, order_or_workflow_id)
    if current.step is not Step.AWAITING_APPROVAL:
        raise ValueError(f"order {current.order_id} is not awaiting approval ({current.step})")
    assert current.total_cents is not None
    assert current.currency is not None
    wid = workflow_id_for(current.order_id)
    message = new_message(
        namespace=client.namespace,
        workflow_id=wid,
        order_id=current.order_id,
        amount_cents=current.total_cents,
        currency=current.currency,
        decision=Decision(decision),
        approver=approver,
        nonce=secrets.token_urlsafe(24),
        issued_at=datetime.now(UTC),
        valid_for=timedelta(seconds=valid_for_seconds),
    )
    signature = await sign_as(
        vault_addr, approver, password, canonical_bytes(message), verify=verify
    )
    approval = SignedApproval(message=message, signature=signature)
    return await send_approval(client, wid, approval, via_signal=via_signal)


async def send_approval(
    client: Client, workflow_id: str, approval: Any, *, via_signal: bool = False
) -> AcceptedApproval | None:
    """Send a signed approval: the ``approve`` Update (default) or the ``approval`` signal.

    Raises:
        ApprovalRefusedError: The workflow's validator refused it (with the reason).
    """
    from temporalio.client import WorkflowUpdateFailedError
    from temporalio.exceptions import ApplicationError

    handle = client.get_workflow_handle(workflow_id)
    if via_signal:
        await handle.signal(api.APPROVAL_SIGNAL, approval)
        return None
    try:
        accepted: AcceptedApproval = await handle.execute_update(
            api.APPROVE_UPDATE, approval, result_type=AcceptedApproval
        )
    except WorkflowUpdateFailedError as exc:
        cause = exc.cause
        if isinstance(cause, ApplicationError) and cause.type == api.APPROVAL_REJECTED:
            raise ApprovalRefusedError(cause.message) from None
        raise
    return accepted


class ApprovalRefusedError(ValueError):
    """The workflow refused an approval; the message is the reason (``orders.approvals``)."""
