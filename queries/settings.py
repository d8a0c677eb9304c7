"""The one configuration object: every knob is a ``CITYOPS_*`` environment variable."""
from __future__ import annotations

import secrets
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CITYOPS_", extra="ignore")

    data_dir: Path = Field(Path("./data"), description="Where the embedded SQLite file and the generated secret live.")
    database_url: str | None = Field(None, description="SQLAlchemy URL; unset = SQLite file under data_dir.")
    database_read_url: str | None = Field(None, description="Read replica used for queries when set.")
    redis_url: str | None = Field(None, description="Redis for cache and bus; unset = in-process cache and bus.")
    secret_key: SecretStr | None = Field(None, description="Flask session key; unset = generated once into data_dir.")
    locale: Literal["zh", "en"] = Field("zh", description="Default UI language.")
    tile_url: str | None = Field(None, description="Optional basemap tile URL template on the extranet.")
    tile_crs: Literal["wgs84", "gcj02", "bd09"] = Field("wgs84", description="Offset of the tile source, layers are shifted to match.")
    demo_scale: Literal["small", "city", "large"] = Field("city", description="Scale of the demo city built on first start.")
    demo_seed: int = Field(20261121, description="Seed of the demo city built on first start.")
    specs_dir: Path | None = Field(
        None,
        description="Folder of the shipped default specs (walls/*.yaml…), used until a version is published in the database; unset = specs/ of the source tree.",
    )
    web_threads: int = Field(
        32, ge=4, le=1000,
        description="Threads per gunicorn worker (gthread). Every open live-update stream (SSE) holds one; 8 are kept for page requests.",
    )
    wall_emergency_minutes: int = Field(
        60, ge=1, le=7 * 24 * 60,
        description="How long after its report a severity I/II incident still puts a video wall into emergency mode (unless acknowledged or resolved).",
    )
    cache_near_mb: int = Field(
        32, ge=0, le=4096,
        description="Memory per worker for a near copy of the Redis cache entries it read last (each kept 10 s; an entry's key names its data's versions, so a copy is never stale); 0 = every read asks Redis.",
    )
    last_good_mb: int = Field(
        64, ge=1, le=4096,
        description="Memory per worker for the last good answers a video wall keeps showing while the database is away (the oldest go first).",
    )
    session_idle_minutes: int = Field(30, ge=1, le=24 * 60, description="A log-in session ends after this long without a request.")
    device_session_days: int = Field(30, ge=1, le=366, description="A wall's device session (from /wall/ID?token=…) ends after this long without a request.")
    cookie_secure: bool = Field(
        False, description="Send the session cookie over HTTPS only (Secure flag); set true whenever the app is reached through HTTPS.",
    )
    trusted_proxies: str | None = Field(
        None, pattern=r"^[0-9A-Fa-f:.,/\s]*$",
        description="Reverse proxies in front of the app whose X-Forwarded-For is believed (audit log, log-in back-off): a count of "
                    "proxy hops (e.g. 1) or a comma-separated list of proxy addresses or networks (e.g. 127.0.0.1,10.0.0.0/8); unset = none.",
    )
    chromium_path: Path = Field(
        Path("/usr/bin/chromium"),
        description="The chromium that renders exports (briefing PDF, panel PNG) on the server: Debian's package, never a downloaded browser.",
    )
    export_base_url: str | None = Field(
        None, pattern=r"^https?://[^/?#\s]+/?$",
        description="Where the export browser reaches this app (e.g. http://127.0.0.1:8050); unset = the address the request arrived on.",
    )

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'cityops.db').resolve()}"

    def resolved_secret_key(self) -> str:
        """The configured key, or one generated on first use and kept in data_dir (never a default)."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value()
        path = self.data_dir / "secret_key"
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(48))
            path.chmod(0o600)
        return path.read_text().strip()


def get_settings(**overrides) -> Settings:
    """A fresh Settings read from the environment (cheap; nothing is cached at module level)."""
    return Settings(**overrides)
