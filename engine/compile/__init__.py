"""A deployed definition made ready to run: compiled workflow, guards, templates, notice context."""
