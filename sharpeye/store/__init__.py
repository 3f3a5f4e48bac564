"""The relational store (SQLAlchemy): engine and sessions; models subclass `Base`."""

from sharpeye.store.db import (
    Base,
    StoreConfigError,
    create_engine_for,
    session_factory,
    session_scope,
)

__all__ = ["Base", "StoreConfigError", "create_engine_for", "session_factory", "session_scope"]
