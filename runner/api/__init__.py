"""The service layer: SageMaker's use cases, named and shaped as its API names them, that every
front end calls (the CLI today; the HTTP server next). Front ends parse and print; the
service validates, decides, runs and records, and raises the typed errors of ``errors``."""
