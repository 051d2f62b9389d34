"""The Telegram side of the bot's own words: what an aiogram message means to the rules."""
