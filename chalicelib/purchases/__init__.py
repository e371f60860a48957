"""Purchases: coin packs bought through Stripe (or the local payment page), credited once."""
