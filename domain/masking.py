"""How contact data is shown on screen: enough for the member to recognise it, not
enough for anyone else to use it. Pure; the decoys use the same functions, so a decoy
mask has exactly the shape of a real one."""
from __future__ import annotations

MASK = "*"


def mask_mobile(mobile: str) -> str:
    """`3104567890` → `310*****90`: the operator prefix and the last two digits."""
    digits = "".join(c for c in mobile if c.isascii() and c.isdigit())
    if len(digits) < 6:
        return MASK * max(len(digits), 4)
    return digits[:3] + MASK * (len(digits) - 5) + digits[-2:]


def mask_email(email: str) -> str:
    """`maria.rojas@example.coop` → `ma*********@e******.coop`."""
    local, at, domain = email.partition("@")
    if not at or not local or not domain:
        return MASK * 8
    shown_local = local[:2] if len(local) > 3 else local[:1]
    host, dot, tld = domain.rpartition(".")
    if not dot:
        host, tld = domain, ""
    masked_host = host[:1] + MASK * max(len(host) - 1, 3)
    return f"{shown_local}{MASK * max(len(local) - len(shown_local), 3)}@{masked_host}{dot}{tld}"


def mask_name(full_name: str) -> str:
    """`María Fernanda Rojas Gutiérrez` → `Ma*** Fe***** Ro*** Gu*******`: recognisable to
    whoever holds the document, useless to anyone collecting names."""
    return " ".join(word[:2] + MASK * max(len(word) - 2, 1) for word in full_name.split())


def mask_document(document_type: str, document_number: str) -> str:
    """`CC 1077227777` → `CC ******7777`: the last four digits, as banks print them."""
    shown = document_number[-4:] if len(document_number) > 4 else ""
    return f"{document_type} {MASK * (len(document_number) - len(shown))}{shown}"
