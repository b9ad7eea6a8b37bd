from dbfixtures import db, pg_db, pg_url, sqlite_db

__all__ = ["db", "pg_db", "pg_url", "sqlite_db"]
