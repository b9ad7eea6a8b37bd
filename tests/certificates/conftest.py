from tests.dbfixtures import db, pg_db, pg_url, sqlite_db  # noqa: F401
