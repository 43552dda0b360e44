"""The `dashboard` section: where it listens, TLS, sessions and pages. Part of maskwatch.config's
strict schema."""
from __future__ import annotations

from pydantic import Field

from maskwatch.strict import Strict


class DashboardConfig(Strict):
    host: str = Field("127.0.0.1", description="bind address")
    port: int = Field(8000, ge=1, le=65535)
    workers: int = Field(2, ge=1, le=32, description="gunicorn worker processes")
    threads: int = Field(4, ge=1, le=64, description="threads per gunicorn worker")
    secret_key: str | None = Field(None, description="session signing key; use ${MASKWATCH_SECRET_KEY}")
    secure_cookies: bool = Field(False, description="mark cookies Secure (behind an HTTPS proxy; on with tls)")
    tls: bool = Field(False, description="serve HTTPS with tls_cert/tls_key; made self-signed at the first "
                                         "start when neither file exists")
    tls_cert: str = Field("tls/cert.pem", description="PEM certificate (chain) for tls")
    tls_key: str = Field("tls/key.pem", description="PEM private key for tls")
    tls_hosts: list[str] = Field(default_factory=list, description="more names/addresses for a self-signed "
                                                                   "certificate (it has localhost and the host name)")
    page_size: int = Field(50, ge=5, le=500)
    compliance_target: float = Field(0.95, ge=0.0, le=1.0, description="the compliance rate a camera should "
                                     "reach: the target line on the stats page; below it a camera shows amber")
    trusted_proxies: int = Field(0, ge=0, le=5, description="reverse proxies in front whose X-Forwarded-For, "
                                                            "-Proto and -Host are believed (0: none)")
    # /metrics names every camera and its state: open for a Prometheus on the site network, or behind
    # a bearer token where the dashboard is reachable from further away
    metrics_token: str | None = Field(None, min_length=16, description="when set, /metrics answers only "
                                      "`Authorization: Bearer <token>` (Prometheus' authorization: credentials); "
                                      "use ${ENV}")

    @property
    def cookies_secure(self) -> bool:
        """Secure cookies when the dashboard serves HTTPS itself or is told a proxy does."""
        return self.secure_cookies or self.tls
