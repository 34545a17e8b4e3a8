"""Alembic environment: the database is DB_URI, the target schema services.storage.schema."""
from logging.config import fileConfig

from alembic import context
from sqlalchemy import create_engine

from services.storage.database import db_uri
from services.storage.schema import metadata

if context.config.config_file_name is not None:
    fileConfig(context.config.config_file_name, disable_existing_loggers=False)


def run_migrations_offline():
    context.configure(url=db_uri(), target_metadata=metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online():
    engine = create_engine(db_uri())
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=metadata)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
