"""Throwaway TLS material for one running topology: a CA and a server certificate.

Made per topology instance, into its workdir, when a topology has a TLS service;
nothing here is ever committed, and the CA's private key is never written at
all. The server certificate names 127.0.0.1 (an IP SAN, and its common name, for
verifiers that still read that) and localhost (a DNS SAN): where every listener
and every link of the local backend is. Keys are EC P-256: quick to make, and
read by OpenSSL (proton, Node), Go's crypto/tls and the JDK (Artemis) alike.

Files, in `<workdir>/certs/`:
    ca.pem              the CA certificate: what clients trust
    server.pem          the server certificate (leaf, then the CA)
    server-key.pem      its private key, unencrypted, mode 0600
    server.p12          key and chain as a PKCS#12 keystore (Artemis), mode 0600
    keystore-password   the keystore's generated password, mode 0600
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from harness.errors import EnvironmentFault

HOSTS_IP = ("127.0.0.1",)
HOSTS_DNS = ("localhost",)
VALID_FOR = dt.timedelta(days=2)  # a run, or a `harness up` session, is far shorter
# Clocks of processes on one host agree; this only covers a certificate used the
# instant it is made by a verifier that truncates to the second.
BACKDATE = dt.timedelta(minutes=5)


@dataclass(frozen=True)
class Certs:
    """Paths of one topology's TLS material (all inside its workdir)."""

    dir: Path
    ca: Path
    cert: Path
    key: Path
    keystore: Path
    keystore_password: str = field(repr=False)

    def to_json(self) -> dict:
        return {
            "dir": str(self.dir),
            "ca": str(self.ca),
            "cert": str(self.cert),
            "key": str(self.key),
            "keystore": str(self.keystore),
        }


def at(workdir: Path) -> Certs:
    """The certificates `generate` made in `workdir` (the keystore password read back
    from its file); EnvironmentFault if they were never made there."""
    d = workdir / "certs"
    try:
        password = (d / "keystore-password").read_text()
    except OSError as e:
        raise EnvironmentFault(
            f"no certificates in {d}", "a TLS service's certificates are made when its topology comes up"
        ) from e
    return Certs(d, d / "ca.pem", d / "server.pem", d / "server-key.pem", d / "server.p12", password)


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [x509.NameAttribute(NameOID.ORGANIZATION_NAME, "fault-harness"), x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    )


def _write(path: Path, data: bytes, private: bool = False) -> None:
    # Created with its final mode, so a key is never readable by others, not even briefly.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def generate(workdir: Path, label: str = "harness") -> Certs:
    """A fresh CA and server certificate in `<workdir>/certs` (replacing any there)."""
    d = workdir / "certs"
    d.mkdir(parents=True, exist_ok=True, mode=0o700)
    now = dt.datetime.now(dt.UTC)
    start, end = now - BACKDATE, now + VALID_FOR

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name(f"fault-harness throwaway CA {label}")
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    key = ec.generate_private_key(ec.SECP256R1())
    san = [x509.IPAddress(ipaddress.ip_address(ip)) for ip in HOSTS_IP] + [x509.DNSName(h) for h in HOSTS_DNS]
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(HOSTS_IP[0]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(san), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    pem = serialization.Encoding.PEM
    password = secrets.token_urlsafe(18)
    # PBES2 (AES-256, PBKDF2-SHA256) with a SHA-256 MAC: what the JDK's PKCS12
    # keystore reads, and no legacy RC2/3DES.
    p12_encryption = (
        serialization.PrivateFormat.PKCS12.encryption_builder()
        .kdf_rounds(10000)
        .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
        .hmac_hash(hashes.SHA256())
        .build(password.encode())
    )
    p12 = pkcs12.serialize_key_and_certificates(b"server", key, cert, [ca], p12_encryption)

    out = Certs(
        dir=d,
        ca=d / "ca.pem",
        cert=d / "server.pem",
        key=d / "server-key.pem",
        keystore=d / "server.p12",
        keystore_password=password,
    )
    _write(out.ca, ca.public_bytes(pem))
    _write(out.cert, cert.public_bytes(pem) + ca.public_bytes(pem))
    _write(
        out.key,
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
        private=True,
    )
    _write(out.keystore, p12, private=True)
    _write(d / "keystore-password", password.encode(), private=True)
    return out
