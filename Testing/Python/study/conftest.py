"""Fixtures of the study tests (the factories live in study_factories.py)."""

from study_factories import ct_small, mammo_template, write_mammo  # noqa: F401
