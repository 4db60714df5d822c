"""Page numbers for the console's lists (?page=N), turned into the services' PageRequest."""

from __future__ import annotations

from dataclasses import dataclass

from flask import request, url_for

from market.services.listing import PageRequest

PER_PAGE = 50


def requested_page() -> int:
    try:
        return max(1, int(request.args.get("page", "1")))
    except ValueError:
        return 1


def page_request(page: int, per_page: int) -> PageRequest:
    return PageRequest(limit=per_page, offset=(page - 1) * per_page)


@dataclass(frozen=True)
class Pager:
    page: int
    count: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.count // self.per_page))

    @property
    def first(self) -> int:
        return 0 if self.count == 0 else (self.page - 1) * self.per_page + 1

    @property
    def last(self) -> int:
        return min(self.count, self.page * self.per_page)

    @property
    def has_previous(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    def url(self, page: int) -> str:
        """This list at another page, keeping its filters."""
        args = {key: value for key, value in request.args.items() if key != "page" and value != ""}
        if page > 1:
            args["page"] = page
        return url_for(request.endpoint, **(request.view_args or {}), **args)
