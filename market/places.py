"""Delivery destinations an order may name, with the coordinates transport cost is reckoned from.

An order that names none is delivered to its buyer's own address. Coordinates are
city or town centres, which is as fine as a per-tonne freight estimate needs.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Place:
    key: str
    name: str
    name_zh: str
    latitude: float
    longitude: float
    aliases: tuple[str, ...] = ()


DESTINATIONS: dict[str, Place] = {
    place.key: place
    for place in (
        # Dongguan and the three towns paired with Zhaoyang since 2016.
        Place("dongguan", "Dongguan", "东莞", 23.0205, 113.7518),
        Place("dongguan-shijie", "Shijie, Dongguan", "东莞石碣镇", 23.0985, 113.8035, ("shijie", "石碣", "石碣镇")),
        Place("dongguan-shilong", "Shilong, Dongguan", "东莞石龙镇", 23.1075, 113.8650, ("shilong", "石龙", "石龙镇")),
        Place("dongguan-chashan", "Chashan, Dongguan", "东莞茶山镇", 23.0720, 113.8790, ("chashan", "茶山", "茶山镇")),
        # Other eastern markets.
        Place("guangzhou", "Guangzhou", "广州", 23.1291, 113.2644),
        Place("shenzhen", "Shenzhen", "深圳", 22.5431, 114.0579),
        Place("foshan", "Foshan", "佛山", 23.0215, 113.1214),
        Place("huizhou", "Huizhou", "惠州", 23.1115, 114.4161),
        Place("zhongshan", "Zhongshan", "中山", 22.5176, 113.3926),
        Place("zhuhai", "Zhuhai", "珠海", 22.2707, 113.5767),
        Place("jiangmen", "Jiangmen", "江门", 22.5789, 113.0815),
        Place("shantou", "Shantou", "汕头", 23.3541, 116.6819),
        Place("xiamen", "Xiamen", "厦门", 24.4798, 118.0894),
        Place("shanghai", "Shanghai", "上海", 31.2304, 121.4737),
        Place("hangzhou", "Hangzhou", "杭州", 30.2741, 120.1551),
        Place("ningbo", "Ningbo", "宁波", 29.8683, 121.5440),
        Place("suzhou", "Suzhou", "苏州", 31.2989, 120.5853),
        Place("nanjing", "Nanjing", "南京", 32.0603, 118.7969),
        Place("beijing", "Beijing", "北京", 39.9042, 116.4074),
        Place("kunming", "Kunming", "昆明", 25.0389, 102.7183),
    )
}


def find_destination(text: str) -> Place | None:
    """Look a destination up by key, English name, Chinese name or alias."""
    wanted = text.strip().casefold()
    for place in DESTINATIONS.values():
        if wanted in (place.key, place.name.casefold(), place.name_zh, *place.aliases):
            return place
    return None
