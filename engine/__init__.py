"""TRECKK workflow engine: declarative complaint-handling flows with history and deadlines."""
