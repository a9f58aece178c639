"""Scheduled retraining on a timeline: windows, the ledger of what was ingested, monitoring."""
