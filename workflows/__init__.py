"""Workflows: deterministic code only, one workflow per module."""

from workflows.order import OrderWorkflow

__all__ = ["OrderWorkflow"]
