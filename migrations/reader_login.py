"""Let tweetstream_reader log in with DB_READER_PASSWORD (run after the migrations by a deployment).

Without DB_READER_PASSWORD the role stays NOLOGIN and this says so. The password is sent as a
parameter and never printed.

    DB_URI=postgresql://postgres:...@postgres/tweets DB_READER_PASSWORD=... python migrations/reader_login.py
"""
import os
import sys

import psycopg2
from psycopg2 import sql

READER = "tweetstream_reader"


def main() -> int:
    password = os.environ.get("DB_READER_PASSWORD", "")
    if not password:
        print(f"DB_READER_PASSWORD is not set: {READER} stays NOLOGIN")
        return 0
    with psycopg2.connect(os.environ["DB_URI"]) as connection, connection.cursor() as cursor:
        cursor.execute(sql.SQL("ALTER ROLE {} LOGIN PASSWORD %s").format(sql.Identifier(READER)), (password,))
    print(f"{READER} may log in")
    return 0


if __name__ == "__main__":
    sys.exit(main())
