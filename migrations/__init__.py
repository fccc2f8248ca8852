"""yoyo migrations, one folder per dialect (installed as package data)."""
