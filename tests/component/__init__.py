"""Tests that start a real server of their own (Postgres, OpenBao, a Temporal dev server).

One throwaway server per kind and session (tests/support/postgres.py, openbao.py, shop.py);
no session stack (that is tests/integration). tests/unit/test_layout.py keeps unit free of them.
"""
