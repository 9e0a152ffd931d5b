"""``python -m orders`` is the ``orders`` command."""

from orders.cli import app

app()
