"""Helpers shared by the test areas (import them from here, fixtures come from tests/conftest.py)."""
