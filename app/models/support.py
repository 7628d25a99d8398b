"""Support: tables and invariants of this domain."""
