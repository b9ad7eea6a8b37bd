"""The web adapter: the REST API under /api/v1 and the pages, both calling ``huiqi.app``."""
