"""Review panels: reviewers, conflicts of interest and declarations, assignment, scores, normalisation."""
