"""``orders dev status``'s credential table: a clear line when Prometheus is not there."""

from __future__ import annotations

import socket

import pytest

from orders.devstack import credential_status as cs
from orders.observability import names


def test_prometheus_down_is_one_clear_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}"  # bound, never listening: refused
        with pytest.raises(cs.PrometheusUnavailable) as down:
            cs.read(url)
        shown = cs.report(url)
    assert url in str(down.value)
    assert "not answering" in str(down.value)
    # dev status: the URL, then one line saying why there is no table.
    assert len(shown) == 2
    assert all(isinstance(line, str) for line in shown)
    assert "not answering" in str(shown[1])
    assert cs.report(None) == ["No Prometheus on this stack: no credential metrics."]


def test_cells() -> None:
    assert cs.seconds(None) == "-"
    assert cs.seconds(-3.0) == "expired"
    assert cs.seconds(42.4) == "42s"
    assert cs.seconds(125.0) == "2m05s"
    row = cs.IdentityCredentials(
        "order-validate",
        client={(names.CLIENT_CERT, names.CREDENTIAL_RENEWED): 4, (names.CLIENT_CERT, "failed"): 1},
    )
    assert cs.client_cell(row, names.CLIENT_CERT) == "4/1"
    assert cs.client_cell(row, names.TEMPORAL_TOKEN) == "-"
