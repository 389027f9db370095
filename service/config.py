"""Configuration from the environment (API.md, "Configuration").

Everything is read once into :class:`Settings`; derived values (the database URL, the storage URL,
the signing key) are resolved here so the rest of the code never looks at the environment.
"""

from __future__ import annotations

import os
import secrets
from functools import cached_property
from pathlib import Path
from urllib.parse import urlparse

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from service.files import private_dir


class ConfigError(Exception):
    """Start-up configuration is unusable; the message is one line meant for an operator."""


SUPPORTED_DB = ("sqlite+aiosqlite", "postgresql+asyncpg")
SUPPORTED_STORAGE = ("file", "s3")
# Archive classes only: both need a restore before a read, which is what the cold tier handles.
COLD_STORAGE_CLASSES = ("GLACIER", "DEEP_ARCHIVE")
COLD_RESTORE_TIERS = ("Expedited", "Standard", "Bulk")


# service.media.detectors.FACTORIES, named here so that reading the settings loads no OpenCV (a unit test
# keeps the two equal).
FACE_DETECTORS = ("centerface", "opencv-haar")


def parse_face_detector(value: str) -> tuple[str, int | None]:
    """``"centerface"`` or ``"centerface:960"`` (the long side frames are scaled to for it) as (name, size),
    or a ValueError naming what is wrong: the one reading of BWV_FACE_DETECTOR, for the settings and for
    service.media.detectors.make."""
    name, colon, side = value.partition(":")
    if name not in FACE_DETECTORS:
        raise ValueError(f"unknown face detector {name!r}: one of {', '.join(FACE_DETECTORS)}")
    if colon and not (side.isdigit() and 64 <= int(side) <= 4096):
        raise ValueError(f"face detector size must be 64..4096 px, not {side!r}")
    return name, int(side) if colon else None


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BWV_", extra="ignore")

    data_dir: Path = Path("./var")
    database_url: str | None = None
    storage_url: str | None = None
    s3_endpoint_url: str | None = None
    s3_region: str = "us-east-1"
    # Server-side encryption of every object written (puts, multipart uploads and their parts, copies).
    s3_sse: str | None = None  # AES256 | aws:kms
    s3_sse_kms_key_id: str | None = None
    # S3 Object Lock: evidence and held footage get COMPLIANCE retention this many days ahead, rolled
    # forward while protection holds (never shortened), besides the legal hold.
    # Short on purpose: released footage stays undeletable until this runs out, and the law wants it gone
    # on its day; a longer window only buys time to notice a service that stopped rolling.
    object_lock_retain_days: int = Field(default=2, ge=1, le=3650)
    object_lock_roll_interval_s: int = Field(default=6 * 3600, ge=60)
    # Cold tier (issue 17): kept footage older than retention.yaml's cold_after_days moves to a cold class.
    # On S3 it stays in the same bucket under cold/ with this storage class (restored before it is read);
    # on local disk it moves to a second store, BWV_COLD_STORAGE_URL (default $BWV_DATA_DIR/cold).
    s3_cold_storage_class: str = "GLACIER"  # GLACIER | DEEP_ARCHIVE
    cold_storage_url: str | None = None
    cold_restore_days: int = Field(default=7, ge=1, le=365)  # how long a restored copy stays readable
    cold_restore_tier: str = "Standard"  # Expedited | Standard | Bulk (S3 Glacier retrieval tiers)
    cold_move_interval_s: int = Field(default=24 * 3600, ge=1)
    cold_restore_poll_interval_s: int = Field(default=900, ge=1)
    # PostgreSQL connection pool, per process (SQLite uses one file lock and ignores these). Size it so
    # that (api + worker replicas) x (pool_size + max_overflow) stays under the server's max_connections.
    db_pool_size: int = Field(default=10, ge=1, le=200)
    db_max_overflow: int = Field(default=10, ge=0, le=200)
    db_pool_timeout_s: float = Field(default=30, gt=0)  # waiting this long for a connection is an error
    # A statement running longer than this is cancelled by PostgreSQL (0 = no limit). Long jobs work in
    # batches, so no single statement should come near it.
    db_statement_timeout_s: float = Field(default=60, ge=0)
    redis_url: str | None = None
    queue_name: str = "arq:queue"
    secret_key: str | None = None
    policy_dir: Path = Path("policies")
    allow_clock_override: bool = False

    # RS256 tokens from a force identity provider: a JWKS document on disk or at a URL.
    jwks_file: Path | None = None
    jwt_issuer: str | None = None
    jwt_audience: str | None = None  # required with a JWKS: every RS256 token must name it in `aud`
    max_token_ttl_s: int = Field(default=12 * 3600, ge=60)  # `bwv token issue` for people (docks excepted)

    # Ingest
    part_size: int = Field(default=8 * 1024 * 1024, ge=5 * 1024 * 1024)
    max_part_size: int = Field(default=64 * 1024 * 1024, ge=1024 * 1024)
    max_upload_bytes: int = Field(default=256 * 1024**3, ge=1)
    abandon_uploads_after_s: int = Field(default=7 * 24 * 3600, ge=60)

    # Jobs
    janitor_interval_s: int = Field(default=3600, ge=1)
    # A probe still pending this long after its upload completed was lost (a worker killed while it held the
    # job: arq only hands a held job on after job_timeout); the ingest janitor queues it again.
    probe_lost_after_s: int = Field(default=600, ge=1)
    sweep_interval_s: int = Field(default=900, ge=1)
    sar_deadline_interval_s: int = Field(default=3600, ge=1)
    review_check_interval_s: int = Field(default=3600, ge=1)  # due retention reviews: supervisor alerts

    # E-mail notifications (service/notify): smtp://[user:password@]host[:port] (STARTTLS when offered;
    # ?starttls=required insists) or smtps://host[:port]. Unset: no e-mail, `bwv notify --dry-run` still lists.
    smtp_url: str | None = None
    smtp_password: str | None = None  # instead of one in the URL
    smtp_ca_file: Path | None = None  # a private CA for the mail server's certificate
    smtp_timeout_s: float = Field(default=30, gt=0)
    smtp_retries: int = Field(default=3, ge=0, le=10)
    smtp_retry_delay_s: float = Field(default=30, ge=0)
    mail_from: str | None = None

    # Evidence that proves itself (service/signing, service/audit/checkpoints.py): the Ed25519 key file
    # (a mounted secret shared by every replica; embedded: generated into the data dir), signed audit
    # checkpoints every this many seconds when there are new events, and an RFC 3161 time-stamping
    # authority (its CA certificate verifies its tokens).
    signing_key_file: Path | None = None
    # Public keys that still verify older signatures (after a rotation); default $BWV_DATA_DIR/signing-keys.
    # In a fleet, mount one shared directory (a ConfigMap) here.
    signing_keyring_dir: Path | None = None
    checkpoint_interval_s: int = Field(default=300, ge=1)
    checkpoint_retain_days: int = Field(default=3650, ge=1, le=36500)  # S3 Object Lock COMPLIANCE on each copy
    tsa_url: str | None = None
    tsa_ca_file: Path | None = None
    # C2PA content credentials on disclosed clips: the force's certificate chain (PEM) and its key (PKCS#8 PEM).
    c2pa_cert: Path | None = None
    c2pa_key: Path | None = None

    # Web console (service/web): browser sessions, sign-in lockout, the force's OpenID Connect provider.
    web_session_ttl_s: int = Field(default=8 * 3600, ge=60)  # one shift
    cookie_secure: bool = True  # browsers treat http://127.0.0.1 and localhost as secure, so make run works
    # Sign-in back-off (service/auth/throttle.py): per (account, address), per address, per account.
    login_max_failures: int = Field(default=5, ge=1)
    login_address_max_failures: int = Field(default=20, ge=1)
    login_account_max_failures: int = Field(default=20, ge=1)
    login_backoff_base_s: float = Field(default=30, gt=0)
    login_lockout_s: int = Field(default=15 * 60, ge=1)  # the longest back-off
    login_forget_s: int = Field(default=24 * 3600, ge=60)  # failures older than this no longer count
    oidc_issuer: str | None = None  # e.g. https://login.force.example/realms/bwv (discovery document below it)
    oidc_client_id: str | None = None
    oidc_client_secret: str | None = None
    oidc_roles_claim: str = "roles"  # the ID token claim that lists bodycam roles
    # The ID token claim that is the person's bodycam id: stable and not user-editable (never a display name).
    oidc_id_claim: str = "sub"
    oidc_id_claims: dict[str, str] = {}  # per issuer, overriding oidc_id_claim: {"https://idp…": "employee_id"}
    oidc_scopes: str = "openid profile"

    public_base_url: str = "http://127.0.0.1:8000"
    log_level: str = "INFO"
    log_format: str = "json"  # json | console

    # Redaction's face detector (service/media/detectors.py): a name, optionally the long side frames are
    # scaled to for it ("centerface:960" where there are more cores or a GPU). Checked here so a typo stops
    # start-up instead of failing every redaction; the model itself loads with the first scan.
    face_detector: str = "centerface"

    @field_validator("face_detector")
    @classmethod
    def _detector(cls, v: str) -> str:
        parse_face_detector(v)
        return v

    @field_validator("data_dir", "policy_dir", mode="after")
    @classmethod
    def _absolute(cls, v: Path) -> Path:
        return v.expanduser().resolve()

    @cached_property
    def db_url(self) -> str:
        url = self.database_url or f"sqlite+aiosqlite:///{self.data_dir / 'bwv.db'}"
        scheme = url.split("://", 1)[0]
        if scheme not in SUPPORTED_DB:
            raise ConfigError(
                f"BWV_DATABASE_URL scheme {scheme!r} is not supported; use one of {', '.join(SUPPORTED_DB)}"
            )
        return url

    @property
    def is_sqlite(self) -> bool:
        return self.db_url.startswith("sqlite")

    @cached_property
    def object_store_url(self) -> str:
        url = self.storage_url or f"file://{self.data_dir / 'objects'}"
        scheme = urlparse(url).scheme
        if scheme not in SUPPORTED_STORAGE:
            raise ConfigError(
                f"BWV_STORAGE_URL scheme {scheme!r} is not supported; use file:///path or s3://bucket"
            )
        return url

    @cached_property
    def cold_store_url(self) -> str | None:
        """The second store for cold footage on local disk; None on S3, where cold is a storage class."""
        if urlparse(self.object_store_url).scheme == "s3":
            return None
        return self.cold_storage_url or f"file://{self.data_dir / 'cold'}"

    @property
    def embedded_jobs(self) -> bool:
        return not self.redis_url

    def signing_key(self) -> str:
        """The HS256 key: configured, or generated once into $BWV_DATA_DIR/secret.key."""
        if self.secret_key:
            return self.secret_key
        path = self.data_dir / "secret.key"
        if path.exists():
            return path.read_text().strip()
        private_dir(path.parent)
        key = secrets.token_urlsafe(48)
        # O_EXCL: two processes starting together must not end up with two different keys.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return path.read_text().strip()
        with os.fdopen(fd, "w") as f:
            f.write(key)
        return key

    def validate_startup(self) -> None:
        """Raise ConfigError with one clear line for anything we can check without I/O to services."""
        _ = self.db_url, self.object_store_url
        if not self.policy_dir.is_dir():
            raise ConfigError(f"BWV_POLICY_DIR {self.policy_dir} is not a readable directory")
        if self.redis_url and urlparse(self.redis_url).scheme not in ("redis", "rediss", "unix"):
            raise ConfigError(f"BWV_REDIS_URL {self.redis_url!r} is not a redis:// URL")
        if bool(self.oidc_issuer) != bool(self.oidc_client_id):
            raise ConfigError("BWV_OIDC_ISSUER and BWV_OIDC_CLIENT_ID are set together or not at all")
        if bool(self.c2pa_cert) != bool(self.c2pa_key):
            raise ConfigError("BWV_C2PA_CERT and BWV_C2PA_KEY are set together or not at all")
        if self.jwks_file and not self.jwks_file.is_file():
            raise ConfigError(f"BWV_JWKS_FILE {self.jwks_file} does not exist")
        if self.jwks_file and not self.jwt_audience:
            raise ConfigError("BWV_JWKS_FILE needs BWV_JWT_AUDIENCE: the provider's tokens must be meant for bodycam")
        if self.s3_cold_storage_class not in COLD_STORAGE_CLASSES:
            raise ConfigError(f"BWV_S3_COLD_STORAGE_CLASS {self.s3_cold_storage_class!r} is not one of "
                              f"{', '.join(COLD_STORAGE_CLASSES)}")
        if self.cold_restore_tier not in COLD_RESTORE_TIERS:
            raise ConfigError(f"BWV_COLD_RESTORE_TIER {self.cold_restore_tier!r} is not one of "
                              f"{', '.join(COLD_RESTORE_TIERS)}")
        if self.cold_storage_url:
            if urlparse(self.cold_storage_url).scheme != "file":
                raise ConfigError("BWV_COLD_STORAGE_URL is a file:// directory for local storage; on S3 cold "
                                  "footage stays in the bucket with BWV_S3_COLD_STORAGE_CLASS")
            if urlparse(self.object_store_url).scheme == "s3":
                raise ConfigError("BWV_COLD_STORAGE_URL is for local storage; on S3 set BWV_S3_COLD_STORAGE_CLASS")
        if self.s3_sse or self.s3_sse_kms_key_id:
            if urlparse(self.object_store_url).scheme != "s3":
                raise ConfigError("BWV_S3_SSE is for s3:// storage; local disk is protected by file modes")
            from service.storage.s3 import sse_args

            try:
                sse_args(self.s3_sse, self.s3_sse_kms_key_id)
            except ValueError as e:
                raise ConfigError(str(e)) from e
        try:
            private_dir(self.data_dir)  # 0700: footage, the database and keys live here (API.md)
        except OSError as e:
            raise ConfigError(f"BWV_DATA_DIR {self.data_dir} cannot be created: {e.strerror}") from e


def get_settings(**overrides) -> Settings:
    return Settings(**overrides)
