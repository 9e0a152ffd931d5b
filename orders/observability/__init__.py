"""Metrics every process exports: names and bounded label values, the registry, helpers.

- :mod:`.names`: every metric's name and label names, and the bounded values each label may
  take (identities from the contract, reasons and outcomes from their enums). Workflow code
  imports it too, so it imports nothing heavier than the contract.
- :mod:`.metrics`: the project's own counters and gauges (prometheus-client, one registry
  per process) and the helpers that clamp any input to a bounded value before it becomes a
  label, then ``serve()`` for a process's ``/metrics``.
- :mod:`.sdk`: the Temporal SDK runtime of a worker, exporting the SDK's metrics (and the
  workflow's own, from ``workflow.metric_meter()``) on a second ``/metrics``.

No label ever carries an order id, an e-mail, a token or a person's name: a unit test scans
everything exported against :data:`.names.LABEL_VALUES`.
"""
