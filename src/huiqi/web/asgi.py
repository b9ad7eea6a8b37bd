"""The ASGI entry point uvicorn imports (``huiqi.web.asgi:app``): settings from HUIQI_* variables.

Each worker process imports this module once, so it also gets the worker ready before its first request: the
programmes loaded and the calculator's per-expression work (closures, explanation plans) done on the example
profiles, then everything alive so far moved out of the garbage collector's sight (``gc.freeze``). The
programmes, templates and libraries are hundreds of thousands of long-lived objects; without the freeze every
full collection walks them all again, a pause of several milliseconds in the middle of some request.
"""

import gc

from huiqi.web.app import create_app
from huiqi.web.calculator import warm_up

app = create_app()
warm_up(app.state.huiqi.registry.programmes())
gc.collect()
gc.freeze()
