"""Each domain may add flask commands here as app/commands/<domain>.py with a COMMANDS list."""
