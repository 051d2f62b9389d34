"""The programme's rules. Services take a database session and know nothing of Telegram."""
