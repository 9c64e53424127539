"""The workflow definition language: frozen model, YAML parsing and validation (pure)."""
