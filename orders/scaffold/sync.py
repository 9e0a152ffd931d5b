"""``python -m orders.scaffold.sync``: render what the contract implies and is missing.

Run by ``orders new`` after it edits the contract, in a fresh interpreter so the edited
contract is the one imported. Writes the Vault policy of every identity that has no file
yet (an existing policy is never touched: it is reviewed by hand and tested), and
re-renders ``k8s/base`` and ``docker-compose.yml`` (generated files) with
:mod:`orders.deploy.render`, and the authorization front's rules
(``orders/front/rules.json``) with :mod:`orders.front.rules`.
"""

from __future__ import annotations

import sys

from orders.contract import identities
from orders.deploy import render
from orders.front import rules as front_rules
from orders.vault.policy import policy_file, render_policy


def main() -> int:
    """Write the missing policies and the manifests; print what was written."""
    for ident in identities.ALL:
        path = policy_file(ident)
        if not path.exists():
            path.write_text(render_policy(ident))
            print(path.relative_to(render.ROOT))
    for path in render.write(render.ROOT):
        print(path)
    rules_file = front_rules.write()
    if rules_file is not None:
        print(rules_file.relative_to(render.ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
