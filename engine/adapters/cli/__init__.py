"""Command-line subcommands. Each module registers its commands; ``runner.py`` dispatches.

Modules import the engine lazily inside handlers so ``treckk --help`` starts fast.
"""
