"""One module per export format, each defining ``FORMAT`` (trajotel.export.format)."""
