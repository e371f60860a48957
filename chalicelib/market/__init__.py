"""Market: the rewards shop, player listings, orders in escrow and their fulfilment."""
