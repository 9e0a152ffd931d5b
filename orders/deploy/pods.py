"""Pod-level conventions of the base's workloads: probes, resources, topology spread."""

from __future__ import annotations

from typing import Any


def exec_probe(check: str, period: int, failures: int) -> dict[str, Any]:
    """``python -m workers.probe CHECK``: the worker listens on no port."""
    return {
        "exec": {"command": ["python", "-m", "workers.probe", check]},
        "periodSeconds": period,
        "timeoutSeconds": 5,
        "failureThreshold": failures,
    }


def tcp_probe(period: int, failures: int) -> dict[str, Any]:
    """A TCP connect to the ``https`` port."""
    return {
        "tcpSocket": {"port": "https"},
        "periodSeconds": period,
        "timeoutSeconds": 3,
        "failureThreshold": failures,
    }


def http_probe(period: int, failures: int) -> dict[str, Any]:
    """``GET /healthz`` over HTTPS (the kubelet does not verify the certificate)."""
    return {
        "httpGet": {"path": "/healthz", "port": "https", "scheme": "HTTPS"},
        "periodSeconds": period,
        "timeoutSeconds": 3,
        "failureThreshold": failures,
    }


def resources(cpu: str, memory: str, cpu_limit: str, memory_limit: str) -> dict[str, Any]:
    """Requests and limits (ephemeral storage bounded too)."""
    return {
        "requests": {"cpu": cpu, "memory": memory, "ephemeral-storage": "16Mi"},
        "limits": {"cpu": cpu_limit, "memory": memory_limit, "ephemeral-storage": "64Mi"},
    }


def spread(match: dict[str, str]) -> list[dict[str, Any]]:
    """Replicas of one identity (pods labelled ``match``) on different nodes, then zones.

    ``ScheduleAnyway``: a one-node cluster (kind) still schedules both replicas; the
    rollout's new pods are counted apart from the old ones (``pod-template-hash``).
    """
    return [
        {
            "maxSkew": 1,
            "topologyKey": key,
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": match},
            "matchLabelKeys": ["pod-template-hash"],
        }
        for key in ("kubernetes.io/hostname", "topology.kubernetes.io/zone")
    ]
