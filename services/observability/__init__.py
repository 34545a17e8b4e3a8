"""Observability shared by every service.

- ``services.observability.metrics``: the Prometheus metrics, the Nameko dependency that
  times entrypoints, and the per-process /metrics listener.
- ``services.observability.logs``: JSON log lines with secrets redacted, and a reader
  that prints them for people (``python -m services.observability.logs``).

Nothing is imported here, so reading logs does not pull in Nameko.
"""
