"""The pure core: time, problems, redaction, request files and safe file handling."""
