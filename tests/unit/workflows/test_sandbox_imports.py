"""The sandbox re-runs only ``workflows.*`` for each workflow run, never ``orders.*``.

Every workflow run gets a fresh copy of its workflow modules; a project module imported
the wrong way (outside ``imports_passed_through()``, or as ``from orders import module``,
which reaches the module through its package and so past the sandbox's passthrough) is
re-run with them. That cost 9 ms of CPU per order (pydantic models rebuilt each run), more
than all of the run's decisions.
"""

from __future__ import annotations

import asyncio
import sys
import types
from collections.abc import Iterator
from typing import Any

from temporalio.worker import WorkflowInstance, WorkflowInstanceDetails
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner
from temporalio.workflow import _Definition

from workers.build import workflow_runner
from workflows import WORKFLOW_CLASSES


def _sandboxed_class(cls: type) -> type:
    """``cls`` as a fresh sandboxed instance of it sees it (its modules re-run)."""
    made: list[WorkflowInstance] = []
    base = workflow_runner()

    class Capturing(SandboxedWorkflowRunner):
        def create_instance(self, det: WorkflowInstanceDetails) -> WorkflowInstance:
            made.append(super().create_instance(det))
            return made[-1]

    runner = Capturing(restrictions=base.restrictions)

    async def prepare() -> None:  # the instance wants a running loop
        runner.prepare_workflow(_Definition.must_from_class(cls))

    asyncio.run(prepare())
    sandboxed: type = made[0].globals_and_locals["__temporal_workflow_class"]  # type: ignore[attr-defined]
    return sandboxed


def _module_globals(cls: type) -> Iterator[tuple[str, dict[str, Any]]]:
    """(module name, globals) of ``cls``'s module and of the workflows modules it uses."""
    seen: set[str] = set()
    todo = [vars(cls)[name] for name in vars(cls) if callable(vars(cls)[name])]
    while todo:
        fn = todo.pop()
        fn = getattr(fn, "__wrapped__", fn)
        glob = getattr(fn, "__globals__", None)
        if glob is None or glob["__name__"] in seen:
            continue
        seen.add(glob["__name__"])
        yield glob["__name__"], glob
        for value in glob.values():
            if isinstance(value, type) and value.__module__.startswith("workflows"):
                todo.extend(v for v in vars(value).values() if callable(v))


def test_project_modules_are_the_hosts_own_in_every_workflow_run() -> None:
    checked = 0
    for classes in WORKFLOW_CLASSES.values():
        for cls in classes:
            sandboxed = _sandboxed_class(cls)
            assert sandboxed is not cls  # the workflow module itself did re-run
            for module, glob in _module_globals(sandboxed):
                assert module.startswith("workflows"), module
                for name, value in glob.items():
                    if isinstance(value, types.ModuleType) and value.__name__.startswith("orders"):
                        assert value is sys.modules[value.__name__], f"{module}.{name}"
                        checked += 1
                    elif getattr(value, "__module__", "").startswith("orders."):
                        host = sys.modules[value.__module__]
                        assert getattr(host, value.__name__, None) is value, f"{module}.{name}"
                        checked += 1
    assert checked >= 10
