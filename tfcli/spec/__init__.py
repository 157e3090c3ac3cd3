"""The study file: its schema, loading with line numbers, cross-field rules, overrides,
templates, and the task registry.

The bottom layer of tfcli: it imports nothing of tfcli above :mod:`tfcli.errors` and
:mod:`tfcli.records`, and nothing heavier than pydantic and PyYAML, so every layer can read a
study without importing the layer that runs it.
"""
