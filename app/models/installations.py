"""Installations: tables and invariants of this domain."""
