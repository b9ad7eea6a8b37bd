"""The ASGI entry point uvicorn imports (``huiqi.web.asgi:app``): settings from HUIQI_* variables."""

from huiqi.web.app import create_app

app = create_app()
