"""Adapters that call the application: the command line and the scheduler."""
