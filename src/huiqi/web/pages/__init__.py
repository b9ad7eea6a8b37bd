"""Server-rendered pages (Jinja2 + HTMX): public, firm, officer, auditor, admin."""
