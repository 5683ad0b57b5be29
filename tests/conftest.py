"""Shared fixtures; helpers to import live in ``tests/notebooks.py`` (``from tests.notebooks import …``)."""
