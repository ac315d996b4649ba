"""A differential run of the AI-Trader upstream profile against the public server's answers (see README.md here)."""
