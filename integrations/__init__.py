"""Clients for the outside world: PSE, SMS, e-mail."""
