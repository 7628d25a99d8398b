"""Assets grouped by domain; each body calls reporting/ and holds no report logic."""
