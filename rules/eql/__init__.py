"""The EQL engine (placeholder until the engine lands)."""
