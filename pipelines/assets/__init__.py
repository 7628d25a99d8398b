"""One module per domain; each holds assets (and optional JOBS / SCHEDULES lists)."""
