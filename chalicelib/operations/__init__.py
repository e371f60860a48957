"""Operations: admin actions, reconciliation, backup, digests, leaderboards, health."""
