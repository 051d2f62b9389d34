"""Programme knowledge: the content under locales/knowledge, search over it, and danger phrases.

Nothing here knows Telegram or the database: it is text in, entries out.
"""
