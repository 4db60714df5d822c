"""Paging for list endpoints: one count and one page per request."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, select
from sqlmodel import Session


@dataclass(frozen=True)
class PageRequest:
    limit: int
    offset: int


def fetch_page(session: Session, statement: Select, page: PageRequest, *order_by: Any) -> tuple[list[Any], int]:
    """Rows of `statement` for this page (in a stable order) and how many there are in all."""
    total = session.execute(select(func.count()).select_from(statement.order_by(None).subquery())).scalar_one()
    rows = session.execute(statement.order_by(*order_by).limit(page.limit).offset(page.offset)).all()
    return [row if len(row) > 1 else row[0] for row in rows], total
