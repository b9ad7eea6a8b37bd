from dbfixtures import sqlite_db

__all__ = ["sqlite_db"]
