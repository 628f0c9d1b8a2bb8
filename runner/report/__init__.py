"""Reports of stored tuning and training jobs: data, figures, HTML, CSV and JSON."""
