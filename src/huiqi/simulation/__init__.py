"""The policy sandbox: reforms of programmes run over a register, and the five-city comparison.

``reform`` reads and validates reform files and applies them to loaded programmes; ``run`` evaluates the
baseline and the reform of the programmes a reform touches in one query over a register; ``cities``
evaluates one firm's plan as if it were registered in each of the five cities.
"""

from huiqi.simulation.reform import AppliedReform, Reform, ReformError, apply_reform, load_reform, parse_sets

__all__ = ["AppliedReform", "Reform", "ReformError", "apply_reform", "load_reform", "parse_sets"]
