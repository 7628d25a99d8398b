"""Reports: queries -> pandas DataFrames -> Excel (openpyxl), report e-mail, closure packs."""
