"""Small shared helpers (none needed at serving time)."""
