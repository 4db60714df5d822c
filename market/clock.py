"""The office's calendar: Zhaoyang and Dongguan both keep Beijing time, whatever the server's clock says."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

OFFICE_TIME_ZONE = ZoneInfo("Asia/Shanghai")


def office_today() -> date:
    """Today where the cooperatives and buyers are: agreement seasons and shipping days count in it."""
    return datetime.now(OFFICE_TIME_ZONE).date()
