"""Payment tasks over db.payments. Filled in by the payments issue."""
