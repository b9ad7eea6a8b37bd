"""Long work run in the background of the server process, with its progress and result kept in the
database so that every worker can show them (see ``service.py``)."""
