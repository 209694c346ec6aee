"""Statistics shared by the stages and the reports (below every stage: imports nothing of the package but io)."""
