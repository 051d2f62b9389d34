"""Outer middlewares that prepare every update: database session, who is speaking, language."""
