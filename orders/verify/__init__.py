"""``orders verify TARGET``: the project's security claims as a conformance suite.

A target file (:mod:`orders.verify.target`) describes a deployment: where Temporal's
authorization front, OpenBao, Postgres and the codec server answer, how to obtain each
identity's ServiceAccount token, and which people's logins to use. The checks act as each
identity exactly as its worker does (its own token, its own Vault login, its own
credentials) and compare every server's real answer with the contract. The integration
tests call the same check functions, so a claim is implemented once.
"""
