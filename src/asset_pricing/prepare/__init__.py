"""Prepare stage: raw pulls → ``data/interim`` (daily returns, monthly realized variances, risk-free rate)."""
