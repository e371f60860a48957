"""Rewards: coins minted for daily claims, quests, referrals and finished courses."""
