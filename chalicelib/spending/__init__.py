"""Spending: spends and tips, content unlocks, holds and job escrow."""
