"""The staff web app: server-rendered pages (Bahasa Indonesia) and the JSON API under ``/api/v1``.

An adapter like the command line: it parses requests, calls the application's commands, queries
and credentials (``engine.app``), and words the answers. ``app.create_app`` assembles it.
"""
