"""Notices: recipients, rendering into the outbox, delivery with retries."""
