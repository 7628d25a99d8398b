"""Chargers: tables and invariants of this domain."""
