"""All configuration, read once from the environment and an optional `.env` file."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Literal, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AnyHttpUrl, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.paths import PROJECT_ROOT

if TYPE_CHECKING:
    from storage.encrypted import Keyring

# Telegram bot tokens look like "123456789:AA..." (numeric bot id, colon, secret part).
_TOKEN_PATTERN = re.compile(r"^\d{3,20}:[A-Za-z0-9_-]{20,}$")
# Telegram's own server; spelled out so that reading settings does not import the framework.
_PRODUCTION_BASE = "https://api.telegram.org"


class ConfigError(Exception):
    """Configuration is missing or malformed; the message names the variable."""


class Settings(BaseSettings):
    # The project's .env wherever the command runs from; one in the working directory overrides.
    model_config = SettingsConfigDict(
        env_file=(PROJECT_ROOT / ".env", ".env"), env_file_encoding="utf-8", extra="ignore"
    )

    bot_token: SecretStr | None = None
    bot_username: str | None = None
    telegram_api_base: str = _PRODUCTION_BASE
    # A Bot API call not answered within this many seconds is given up and tried again later
    # (aiogram's default); getUpdates waits POLLING_TIMEOUT_SECONDS for updates, plus 10.
    telegram_timeout_seconds: float = Field(default=60.0, gt=0)
    polling_timeout_seconds: int = Field(default=30, ge=0, le=50)
    # Next to the code, not the working directory, so every command finds the same database.
    database_url: str = f"sqlite+aiosqlite:///{PROJECT_ROOT / 'data' / 'homeward.db'}"
    # SQLite only: how long a write waits for another one's lock before the update is tried again.
    database_busy_timeout_seconds: float = Field(default=30.0, gt=0)
    redis_url: str | None = None
    webhook_url: AnyHttpUrl | None = None
    webhook_secret: SecretStr | None = None
    webhook_host: str = "0.0.0.0"  # noqa: S104 - the webhook server listens inside its container
    webhook_port: int = Field(default=8080, ge=1, le=65535)
    # A webhook request's body beyond this is refused (413) unread. Telegram's largest update
    # (a 4,096-character text with its entities, quoting another) is far below it.
    webhook_max_body_bytes: int = Field(default=1024 * 1024, ge=64 * 1024, le=64 * 1024 * 1024)
    default_locale: str = "en"
    # Updates handled at once; each may hold two database connections (its session and the
    # FSM storage's), so the connection pool is sized from this.
    update_concurrency: int = Field(default=8, ge=1, le=100)
    # Telegram's sending limits: overall, per group (sends, edits, pins and topics count alike),
    # and per private chat (a short burst, then about one a second).
    send_overall_per_second: int = Field(default=30, ge=1)
    send_group_per_minute: int = Field(default=20, ge=1)
    send_group_window_seconds: float = Field(default=60.0, gt=0)
    send_private_burst: int = Field(default=3, ge=1)
    # A staff group that refuses the bot (removed, or lacking rights) is tried again after this,
    # doubling each time up to the maximum; its messages wait meanwhile.
    send_group_retry_seconds: float = Field(default=5.0, gt=0)
    send_group_retry_max_seconds: float = Field(default=300.0, gt=0)
    # When returnees' messages reach a group later than this, the office is told (once an hour).
    relay_lag_alert_seconds: float = Field(default=300, gt=0)
    # How often the leader looks for scheduled work that is due (check-ins, reminders, overdue
    # payouts); 0 leaves it to whoever calls the sweep (the tests, with a clock of their own).
    sweep_seconds: float = Field(default=300, ge=0)
    # The counsellors' monthly digest: day of the month (1-28), hour, and their time zone.
    digest_day: int = Field(default=1, ge=1, le=28)
    digest_hour: int = Field(default=9, ge=0, le=23)
    digest_timezone: str = "Europe/Copenhagen"
    invite_ttl_days: int = Field(default=14, ge=1, le=365)
    # A staff message marked /sensitive leaves the returnee's chat this many hours later;
    # under 48, because Telegram lets a bot delete a message only within 48 hours.
    sensitive_hours: float = Field(default=24, gt=0, lt=48)
    # Failed invite tokens tolerated from one account before it has to wait.
    invite_attempts: int = Field(default=5, ge=1)
    invite_attempts_window_seconds: int = Field(default=900, ge=1)
    # Data protection: the kill switch (bot/services/outbound.py) is seen by every process
    # within this many seconds; a case closed or dropped out longer ago than RETENTION_MONTHS
    # loses the words and files it held (bot/services/retention.py); failed messages lose their
    # content after OUTBOX_FAILED_DAYS; dialog state untouched for DIALOG_TTL_DAYS goes.
    outbound_switch_seconds: float = Field(default=3.0, ge=0, le=60)
    retention_months: int = Field(default=12, ge=1, le=120)
    outbox_failed_days: int = Field(default=30, ge=1, le=3650)
    dialog_ttl_days: int = Field(default=30, ge=1, le=3650)
    # /healthz and /metrics on a port of their own (both modes); unset: on the webhook server
    # in webhook mode, nowhere in polling mode. Only this host's programs reach 127.0.0.1.
    metrics_port: int | None = Field(default=None, ge=1, le=65535)
    metrics_host: str = "127.0.0.1"
    # When set, /metrics answers only `Authorization: Bearer <token>` (it names staff groups'
    # chat ids and the outbox's depth); /healthz stays open for load balancers.
    metrics_token: SecretStr | None = None
    # "json": every log line one JSON object (time, level, logger, message).
    log_format: Literal["text", "json"] = "text"
    # Encryption at rest of what people wrote (storage/encrypted.py): comma-separated keys,
    # newest first; the first encrypts, all decrypt. Unset: stored plain.
    encryption_keys: SecretStr | None = None
    # DEBUG shows the framework's own lines too; the privacy filter holds at every level.
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator("bot_token")
    @classmethod
    def _token_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not _TOKEN_PATTERN.match(value.get_secret_value()):
            raise ValueError(
                "BOT_TOKEN is malformed: expected <digits>:<secret> as given by BotFather"
            )
        return value

    @field_validator("encryption_keys")
    @classmethod
    def _encryption_keys(cls, value: SecretStr | None) -> SecretStr | None:
        from storage.encrypted import EncryptionError, Keyring

        if value is not None:
            try:
                Keyring.from_setting(value.get_secret_value())
            except EncryptionError as error:
                raise ValueError(f"ENCRYPTION_KEYS: {error}") from None
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _level_in_capitals(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("telegram_api_base")
    @classmethod
    def _api_base(cls, value: str) -> str:
        if not re.match(r"^https?://[^/]+", value):
            raise ValueError(
                "TELEGRAM_API_BASE must be an http(s) URL such as http://127.0.0.1:8081"
            )
        return value.rstrip("/")

    @field_validator("digest_timezone")
    @classmethod
    def _digest_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"DIGEST_TIMEZONE {value!r} is not a time zone such as Europe/Copenhagen"
            ) from None
        return value

    @field_validator("default_locale")
    @classmethod
    def _locale(cls, value: str) -> str:
        return value.replace("-", "_").split("_")[0].lower()

    @model_validator(mode="after")
    def _webhook_secret_needed(self) -> Self:
        if self.webhook_secret is not None and not re.match(
            r"^[A-Za-z0-9_-]{1,256}$", self.webhook_secret.get_secret_value()
        ):
            raise ValueError("WEBHOOK_SECRET may hold only A-Z, a-z, 0-9, _ and - (1-256 chars)")
        return self

    @property
    def token(self) -> str:
        if self.bot_token is None:
            raise ConfigError(
                "BOT_TOKEN is not set: create a bot with @BotFather and set BOT_TOKEN"
            )
        return self.bot_token.get_secret_value()

    def secrets(self) -> list[str]:
        """What must never appear in a log."""
        return [
            secret.get_secret_value()
            for secret in (self.bot_token, self.webhook_secret, self.metrics_token)
            if secret is not None
        ] + [
            key.strip()
            for key in (
                self.encryption_keys.get_secret_value().split(",") if self.encryption_keys else []
            )
            if key.strip()
        ]

    def keyring(self) -> Keyring | None:
        """The keys that seal what people wrote; None: stored plain."""
        from storage.encrypted import Keyring

        if self.encryption_keys is None:
            return None
        return Keyring.from_setting(self.encryption_keys.get_secret_value())

    def require_webhook(self) -> tuple[str, str]:
        if self.webhook_url is None:
            raise ConfigError("WEBHOOK_URL is not set: webhook mode needs the public HTTPS URL")
        if self.webhook_secret is None:
            raise ConfigError("WEBHOOK_SECRET is not set: webhook mode refuses to run without it")
        return str(self.webhook_url), self.webhook_secret.get_secret_value()


def load_settings(**overrides: object) -> Settings:
    """Read settings, turning pydantic's report into one line that names the variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        first = error.errors()[0]
        variable = str(first["loc"][0]).upper() if first["loc"] else "configuration"
        message = str(first["msg"]).removeprefix("Value error, ")
        raise ConfigError(f"{variable}: {message}") from None
