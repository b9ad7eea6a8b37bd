"""Reports: charts (PNG and SVG) and self-contained HTML pages of simulations and city comparisons."""
