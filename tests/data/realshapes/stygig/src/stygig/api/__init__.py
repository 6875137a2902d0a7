"""HTTP helpers (unused by the serving script)."""
