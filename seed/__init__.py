"""Seed data: the 2020 Zhaoyang-Dongguan scenario and a synthetic order book for load tests."""
