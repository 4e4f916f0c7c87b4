"""Pure business rules of Zona Privada: no I/O, nothing of ours imported (DESIGN §1, §3)."""
