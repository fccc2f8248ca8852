"""proxyd: GitHub Copilot as an OpenAI-compatible API for a team."""

__version__ = "0.1.0"
