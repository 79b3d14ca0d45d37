"""Seeds (filled in by the seeds work)."""
