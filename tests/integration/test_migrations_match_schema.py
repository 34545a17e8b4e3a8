"""The Alembic migrations build exactly the schema services/storage/schema.py describes."""
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from services.storage.schema import metadata

pytestmark = pytest.mark.integration


def test_the_migrated_database_has_every_table_column_and_index_of_the_schema_module(engine):
    with engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), metadata)
    assert differences == []
