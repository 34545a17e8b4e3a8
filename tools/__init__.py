"""Developer tooling, outside the installed package and the image: make run's supervisor and
infrastructure helper, the benchmark, the bulk loader, the soak, the process harness the tests use,
and linters (lint/). Nothing under services/ imports it."""
