"""Reads for the member's zone (issue 11): products, movements, the statement of account,
certificates and personal data, all derived from the ledger and the product tables."""
