"""Developer tooling: bring up the local infrastructure and run every service (make run)."""
