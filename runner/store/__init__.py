"""The job store (embedded SQLite) and the leases of the processes that run jobs."""
