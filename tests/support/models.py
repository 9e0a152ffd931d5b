"""Hypothesis strategies of valid orders (the property tests and the client tests)."""

from __future__ import annotations

from hypothesis import strategies as st

from orders.models import (
    CURRENCIES,
    MAX_QUANTITY,
    SKU_PATTERN,
)

skus = st.from_regex(SKU_PATTERN, fullmatch=True)


quantities = st.integers(min_value=1, max_value=MAX_QUANTITY)


items = st.lists(
    st.fixed_dictionaries({"sku": skus, "quantity": quantities}),
    min_size=1,
    max_size=4,
    unique_by=lambda i: i["sku"],
)


valid_orders = st.fixed_dictionaries(
    {
        "customer_id": st.from_regex(r"[A-Za-z0-9._-]{1,64}", fullmatch=True),
        "customer_email": st.from_regex(
            r"[a-z0-9.]{1,20}@[a-z0-9]{1,20}\.[a-z]{2,6}", fullmatch=True
        ),
        "shipping_address": st.text(min_size=5, max_size=60).filter(lambda s: len(s.strip()) >= 5),
        "payment_reference": st.from_regex(r"[A-Za-z0-9_-]{4,64}", fullmatch=True),
        "currency": st.sampled_from(sorted(CURRENCIES)),
        "items": items,
    }
)
