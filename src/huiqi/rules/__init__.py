"""The engine: programmes as cited, dated, typed rules; one firm (evaluator), a register (compiler)."""
