"""Homeward: the Telegram bot for assisted voluntary return and reintegration programmes."""
