"""The operator CLI: ``python -m chalicelib.cli``."""
