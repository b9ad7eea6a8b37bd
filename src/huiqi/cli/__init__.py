"""The ``huiqi`` command."""
