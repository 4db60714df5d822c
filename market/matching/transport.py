"""Freight per tonne between a township in Zhaoyang and an eastern destination.

Road distance is estimated as the great-circle distance times a winding factor for
mountain and expressway roads; apples and eggs travel cold-chain, which costs more
per tonne-kilometre and to load. Rates are fen per tonne, so the result is exact.
"""

from __future__ import annotations

import math

EARTH_RADIUS_KM = 6371.0
# Roads out of the Wumeng mountains wind: about 1.3 km of road per km as the crow flies.
ROAD_FACTOR = 1.3

# (fen per tonne to load and hand over, fen per tonne-kilometre)
GENERAL_FREIGHT = (3_000, 40)  # 30 yuan/t + 0.40 yuan per t-km
COLD_CHAIN = (8_000, 75)  # 80 yuan/t + 0.75 yuan per t-km
RATES: dict[str, tuple[int, int]] = {
    "apple": COLD_CHAIN,
    "egg": COLD_CHAIN,
    "vegetable": GENERAL_FREIGHT,
    "sichuan_pepper": GENERAL_FREIGHT,
    "potato": GENERAL_FREIGHT,
}


def road_km(origin: tuple[float, float], destination: tuple[float, float]) -> int:
    """Whole kilometres of road between two (latitude, longitude) points."""
    lat1, lon1, lat2, lon2 = map(math.radians, (*origin, *destination))
    haversine = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return round(2 * EARTH_RADIUS_KM * math.asin(math.sqrt(haversine)) * ROAD_FACTOR)


def freight_fen_per_tonne(product: str, origin: tuple[float, float], destination: tuple[float, float]) -> int:
    handling, per_km = RATES[product]
    return handling + per_km * road_km(origin, destination)
