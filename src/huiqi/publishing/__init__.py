"""Programmes through their life (issue 15): drafts kept in the database, review by a second officer,
publication and withdrawal, each transition in the audit chain."""
