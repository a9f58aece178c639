"""How the online service runs: where it listens, who may call it, how often it checks the
registry. Binding anywhere but the loopback interface needs a bearer token."""

from __future__ import annotations

import ipaddress

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

TOKEN_ENV = "MTREC_SERVE_TOKEN"
"""The environment variable the command line reads the bearer token from."""
MIN_TOKEN_CHARS = 16
LOOPBACK_NAMES = frozenset({"localhost"})


def is_loopback(host: str) -> bool:
    """Whether ``host`` names only this machine (``127.0.0.0/8``, ``::1``, ``localhost``)."""
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name other than localhost: it may resolve to anything
        return False


class ServeSettings(BaseModel):
    """The service's settings (``run.py serve`` flags); validated on construction."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    """0 picks a free port (tests)."""
    token: SecretStr | None = None
    """Bearer token every request must carry; required to bind a non-loopback host."""
    poll_seconds: float = Field(default=5.0, gt=0.0)
    """How often the registry is asked whether production changed."""
    max_k: int = Field(default=100, ge=1)
    """The longest list a request may ask for."""
    threads: int = Field(default=1, ge=1)
    """Torch threads per scoring call. Requests run in parallel threads, so one each keeps
    two concurrent requests from fighting over two cores."""

    @model_validator(mode="after")
    def _token_off_loopback(self) -> ServeSettings:
        token = self.token.get_secret_value() if self.token is not None else ""
        if self.token is not None and len(token) < MIN_TOKEN_CHARS:
            raise ValueError(f"the bearer token must have at least {MIN_TOKEN_CHARS} characters")
        if not is_loopback(self.host) and self.token is None:
            raise ValueError(
                f"binding {self.host!r} exposes the service beyond this machine: set "
                f"{TOKEN_ENV} to a bearer token (at least {MIN_TOKEN_CHARS} characters), or "
                "bind 127.0.0.1"
            )
        return self
