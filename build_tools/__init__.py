"""Helpers of setup.py (not part of the installed package)."""
