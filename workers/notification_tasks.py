"""Notification tasks (outbox → e-mail / SMS). Filled in by the login issue."""
