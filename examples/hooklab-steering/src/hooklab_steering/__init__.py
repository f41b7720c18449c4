"""Example third-party hooklab plugin: steering vectors."""
