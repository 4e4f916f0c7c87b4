"""What every layer shares: settings, the `zona` command and the embedded runtime."""
