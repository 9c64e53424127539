"""The application: settings, assembly, commands (the one door for every change) and queries."""
