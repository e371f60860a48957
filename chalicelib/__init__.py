"""Coinhall: everything deployed with the Chalice app."""
