"""Tenancy: economies, API keys, guild links and the audit trail."""
