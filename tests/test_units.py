from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from market.units import fen_from_kg_fen, fen_to_yuan, kg_to_tonnes, tonnes_to_kg, value_fen, yuan_to_fen

kilograms = st.integers(min_value=1, max_value=100_000_000)
fen = st.integers(min_value=1, max_value=100_000_000)


@given(kilograms)
def test_kilograms_survive_the_round_trip_through_tonnes(kg):
    assert tonnes_to_kg(Decimal(kg_to_tonnes(kg))) == kg


@given(fen)
def test_fen_survive_the_round_trip_through_yuan(amount):
    text = fen_to_yuan(amount)
    assert len(text.split(".")[1]) == 2
    assert yuan_to_fen(Decimal(text)) == amount


def test_tonnes_are_written_without_trailing_zeros():
    assert [kg_to_tonnes(kg) for kg in (3_000_000, 12_500, 1, 120_505, 0)] == ["3000", "12.5", "0.001", "120.505", "0"]
    assert [fen_to_yuan(amount) for amount in (345_000, 1, 0)] == ["3450.00", "0.01", "0.00"]


def test_fractions_of_a_kilogram_or_fen_are_refused():
    with pytest.raises(ValueError):
        tonnes_to_kg(Decimal("1.0005"))
    with pytest.raises(ValueError):
        yuan_to_fen(Decimal("0.001"))


def test_value_rounds_half_up_to_the_fen():
    assert value_fen(1, 500) == 1  # 0.5 fen rounds up
    assert value_fen(1, 499) == 0
    assert value_fen(3_000_000, 720_000) == 2_160_000_000  # 3,000 t at 7,200 yuan/t = 21.6 million yuan


@given(st.lists(st.tuples(kilograms, fen), min_size=1, max_size=20))
def test_summing_first_and_rounding_once_is_exact(lots):
    exact = sum(Decimal(kg) * price / 1000 for kg, price in lots)
    total = fen_from_kg_fen(sum(kg * price for kg, price in lots))
    assert abs(Decimal(total) - exact) <= Decimal("0.5")


@given(st.integers(min_value=-(10**15), max_value=10**15))
def test_whole_products_round_as_the_decimal_rule_does(kg_fen):
    decimal = int((Decimal(kg_fen) / 1000).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    assert fen_from_kg_fen(kg_fen) == decimal == fen_from_kg_fen(Decimal(kg_fen))


def test_ties_round_away_from_zero():
    assert [fen_from_kg_fen(n) for n in (500, 499, 1500, -500, -499, -1500, 0)] == [1, 0, 2, -1, 0, -2, 0]


@given(st.integers(min_value=-(10**15), max_value=10**15))
def test_tonnes_and_yuan_are_spelt_as_the_decimal_rule_spells_them(amount):
    tonnes = format(Decimal(amount) / 1000, "f")
    if "." in tonnes:
        tonnes = tonnes.rstrip("0").rstrip(".")
    assert kg_to_tonnes(amount) == tonnes
    assert fen_to_yuan(amount) == format(Decimal(amount) / 100, ".2f")
