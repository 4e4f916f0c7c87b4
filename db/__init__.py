"""SQLAlchemy models, engine and session scope, migrations, ledger postings, demo data."""
