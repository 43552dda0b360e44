"""HTTPS for the dashboard out of the box: the site's certificate, or a self-signed one made once.

A compose site opens the dashboard at https://HOST:8000 the first time, with Secure cookies that
the browser sends back (over plain HTTP it would not, and every login form would "expire"). The
pair is made at the first start of `maskwatch dashboard` when neither file exists, kept on a
volume so browsers see the same certificate after a restart, and replaced by the site's own
files (mounted at the same paths) whenever it has them.
"""
from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import os
import socket
from pathlib import Path

from maskwatch.config import ConfigError
from maskwatch.dashboard_config import DashboardConfig

log = logging.getLogger(__name__)
VALID_DAYS = 825  # the longest validity browsers accept for a server certificate


def certificate_files(d: DashboardConfig, site: str) -> tuple[str, str]:
    """(cert, key) paths for gunicorn, made self-signed first when neither exists."""
    cert, key = Path(d.tls_cert), Path(d.tls_key)
    if cert.is_file() and key.is_file():
        return str(cert), str(key)
    if cert.exists() or key.exists():
        raise ConfigError(f"dashboard.tls_cert / tls_key: {cert} and {key} must both exist (or neither, "
                          "for a self-signed pair): found only one")
    names = ["localhost", socket.gethostname(), *d.tls_hosts]
    make_self_signed(cert, key, names, site)
    log.warning("dashboard: made a self-signed certificate %s for %s; browsers warn about it until the "
                "site's own certificate is mounted at %s and %s", cert, ", ".join(dict.fromkeys(names)), cert, key)
    return str(cert), str(key)


def make_self_signed(cert: Path, key: Path, names: list[str], site: str) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    private = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0]),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, f"maskwatch {site}"[:64])])
    now = dt.datetime.now(dt.timezone.utc)
    sans = [x509.DNSName(n) for n in dict.fromkeys(names) if not _ip(n)]
    sans += [x509.IPAddress(ip) for ip in {ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1"),
                                           *filter(None, map(_ip, names))}]
    certificate = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
                   .public_key(private.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=VALID_DAYS))
                   .add_extension(x509.SubjectAlternativeName(sans), critical=False)
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                   .sign(private, hashes.SHA256()))
    cert.parent.mkdir(parents=True, exist_ok=True)
    key.parent.mkdir(parents=True, exist_ok=True)
    # the key is written readable by its owner only, and before the certificate: a crash in
    # between leaves one file, which the next start reports instead of using
    fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))


def _ip(name: str):
    try:
        return ipaddress.ip_address(name)
    except ValueError:
        return None
