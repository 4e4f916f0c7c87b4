"""The operator console (/operador): its own accounts (key + TOTP, roles), views of every payment and four-eyes actions."""
