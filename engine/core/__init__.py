"""The rules, pure: case records, entering a state, permissions, field values, masking, deadlines, the machine, integrity."""
