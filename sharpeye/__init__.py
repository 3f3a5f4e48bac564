"""Sharpeye's shared core: registry schema, settings, contracts, bus, store and the CLI."""

__version__ = "0.1.0"
