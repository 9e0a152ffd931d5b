"""Helpers the tests share: no tests here (tests/unit/test_layout.py checks it)."""
