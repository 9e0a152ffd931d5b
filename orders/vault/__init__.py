"""Vault (OpenBao) as code: policies, roles, PKI, people, tokens, approvers' keys.

Everything here is rendered from the contract (:mod:`orders.contract`) and applied by
:func:`orders.vault.config.apply`; the literal policies live in the top-level ``vault/``.
"""
