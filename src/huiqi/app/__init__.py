"""The application layer: every use case a person performs, written once for the CLI, the pages and the API.

One module per group of use cases. Each use case is a keyword-only function taking a ``Store`` and plain
typed inputs, returning a typed read model and raising the domain's errors; it owns its unit of work
(``Store.write`` / ``Store.read``): the services below only flush. Adapters (``huiqi.cli``, ``huiqi.web``)
parse input, call these functions and render what they return.
"""
