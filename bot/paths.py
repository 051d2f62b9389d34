"""Where the project's files live, independent of the current working directory."""

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
LOCALES_DIR = PROJECT_ROOT / "locales"
MIGRATIONS_DIR = PROJECT_ROOT / "storage" / "migrations"
KNOWLEDGE_DIR = LOCALES_DIR / "knowledge"
OFFICE_SHEETS_DIR = LOCALES_DIR / "offices"
