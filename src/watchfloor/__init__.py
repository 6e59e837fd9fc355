"""Watchfloor: an open-source operations center (NOC)."""
