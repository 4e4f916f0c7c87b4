"""Mis Datos Personales: the member's data and its audited changes."""
