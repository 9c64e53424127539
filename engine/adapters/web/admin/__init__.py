"""The administrators' pages (staff, tokens, audit) and the outbox page; ``routes.router`` for app.py."""
