"""Commands grouped by noun. Each module imports the engine lazily, inside commands."""
