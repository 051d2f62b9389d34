# Homeward bot: slim, non-root, catalogs compiled at build time.
FROM python:3.11-slim AS runtime

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN groupadd --system homeward && useradd --system --gid homeward --home-dir /app homeward
WORKDIR /app

# Dependencies first, so code changes do not reinstall them.
COPY pyproject.toml README.md ./
RUN mkdir -p bot dialogs storage && touch bot/__init__.py dialogs/__init__.py storage/__init__.py \
    && pip install . && pip uninstall --yes homeward

COPY . .
RUN pip install --no-deps -e . \
    && python -c "from bot.i18n import compile_catalogs; compile_catalogs()" \
    && mkdir -p /app/data && chown homeward:homeward /app/data

USER homeward
VOLUME ["/app/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=10s --start-period=20s --retries=3 \
    CMD ["python", "-m", "bot", "check"]
CMD ["python", "-m", "bot", "run"]
