"""Search space (to be written)."""
