"""``python -m orders.devstack.identity_endpoint --state-dir DIR --port PORT``."""

import sys

from orders.devstack.identity_endpoint.server import main

if __name__ == "__main__":
    sys.exit(main())
