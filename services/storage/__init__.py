"""Where tweets are kept: the schema (schema.py), connections (database.py),
the one write path for tweets and their rollups (ingest.py), and the run ledger (runs.py)."""
