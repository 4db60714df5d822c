"""Places freight is reckoned between: Zhaoyang's townships (where lots are collected)
and the eastern destinations an order may name.

An order that names no destination is delivered to its buyer's own address; a lot
leaves from its cooperative's township, or from the cooperative's own coordinates when
the township is not one of these. Coordinates are approximate town or city centres,
which is as fine as a per-tonne freight estimate needs.
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


# Zhaoyang District's twenty townships and subdistricts.
ORIGINS: dict[str, Place] = {
    place.key: place
    for place in (
        Place("fenghuang", "Fenghuang", "凤凰街道", 27.335, 103.717),
        Place("longquan", "Longquan", "龙泉街道", 27.320, 103.700),
        Place("taiping", "Taiping", "太平街道", 27.375, 103.695),
        Place("shouwang", "Shouwang", "守望乡", 27.310, 103.640),
        Place("jiupu", "Jiupu", "旧圃镇", 27.285, 103.780),
        Place("yongfeng", "Yongfeng", "永丰镇", 27.345, 103.780),
        Place("beizha", "Beizha", "北闸镇", 27.420, 103.705),
        Place("sayu", "Sayu", "洒渔镇", 27.433, 103.600),
        Place("leju", "Leju", "乐居镇", 27.490, 103.560),
        Place("sujiayuan", "Sujiayuan", "苏家院镇", 27.255, 103.805),
        Place("xiaolongdong", "Xiaolongdong", "小龙洞乡", 27.215, 103.840),
        Place("buga", "Buga", "布嘎乡", 27.255, 103.650),
        Place("dashanbao", "Dashanbao", "大山包镇", 27.395, 103.340),
        Place("tianba", "Tianba", "田坝乡", 27.455, 103.470),
        Place("yanshan", "Yanshan", "炎山镇", 27.575, 103.460),
        Place("dazhaizi", "Dazhaizi", "大寨子乡", 27.560, 103.590),
        Place("qinggangling", "Qinggangling", "青岗岭乡", 27.610, 103.680),
        Place("panhe", "Panhe", "盘河镇", 27.560, 103.760),
        Place("jingan", "Jing'an", "靖安镇", 27.480, 103.800, ("jing'an", "jingan")),
        Place("sujia", "Sujia", "苏甲乡", 27.530, 103.850),
    )
}


def find_origin(township: str, township_zh: str | None = None) -> Place | None:
    """The Zhaoyang township a cooperative names, by English or Chinese name."""
    wanted = {township.strip().casefold(), (township_zh or "").strip()}
    for place in ORIGINS.values():
        if wanted & {place.key, place.name.casefold(), place.name_zh, *place.aliases}:
            return place
    return None
