"""Everything the bot sends goes through here: the outbox, the rate limits, the sender."""
