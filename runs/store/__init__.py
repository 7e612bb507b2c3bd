"""The store: every write to the engine's tables goes through this package, each in one transaction."""
