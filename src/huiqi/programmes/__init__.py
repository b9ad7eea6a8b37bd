"""Bundled programme packs, as data: one folder a city."""
