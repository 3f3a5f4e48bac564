"""What a 422 answer holds, for routes whose own checks refuse a request FastAPI accepted.

FastAPI documents every 422 as its validation error (`detail`: a list of invalid fields),
but a route's own check (an unknown department, a range too long, a rule whose id differs
from its path) answers `detail` as one message, which is what the wall shows. Routes that do
declare this model, so the document says what a client will get.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class Unprocessable(BaseModel):
    detail: str | list[dict[str, Any]] = Field(
        description="What is wrong: the route's own message, or FastAPI's list of invalid "
        "fields (each with `loc`, `msg` and `type`)."
    )


def unprocessable(description: str) -> dict[int | str, dict[str, Any]]:
    """`responses` entry for a route that refuses with its own 422 messages."""
    return {422: {"model": Unprocessable, "description": description}}
