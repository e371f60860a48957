"""Chalice blueprints: thin HTTP adapters over the feature modules."""
