"""SQL named queries, one folder per dialect (installed as package data)."""
