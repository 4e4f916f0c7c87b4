"""The security images members choose from (SVGs under static/img/security/)."""
from __future__ import annotations

SECURITY_IMAGES: dict[str, str] = {
    "colibri": "Colibrí",
    "cafe": "Taza de café",
    "montana": "Montaña",
    "sol": "Sol",
    "luna": "Luna",
    "arbol": "Árbol",
    "flor": "Flor",
    "casa": "Casa",
    "barco": "Barco",
    "estrella": "Estrella",
    "corazon": "Corazón",
    "llave": "Llave",
    "mariposa": "Mariposa",
    "pez": "Pez",
}
IMAGE_NAMES: tuple[str, ...] = tuple(SECURITY_IMAGES)
