"""TLS for the emulator's servers: a throwaway certificate made at start, and the server-side wrapping.

The real API is HTTPS, so a client pays a handshake per new connection; serving TLS makes that
cost (and any connection the client fails to reuse) show in tests and the benchmark. Clients
trust the certificate the way any requests-based client trusts a private CA: through
`REQUESTS_CA_BUNDLE` pointing at `ServerCertificate.ca_bundle`.
"""

from __future__ import annotations

import datetime
import ipaddress
import shutil
import socket
import ssl
import tempfile
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

LOOPBACK_NAMES = ("localhost",)
LOOPBACK_ADDRESSES = ("127.0.0.1", "::1")
VALIDITY = datetime.timedelta(days=2)


class ServerCertificate:
    """A self-signed certificate for loopback, in a temporary directory removed by `close()`.

    It is its own CA (`ca_bundle` is the certificate itself), valid for `localhost`, 127.0.0.1 and ::1.
    """

    def __init__(self, common_name: str = "freshchat-emulator") -> None:
        self._directory = Path(tempfile.mkdtemp(prefix="freshchat-emulator-tls-"))
        key = ec.generate_private_key(ec.SECP256R1())  # P-256: a fast handshake, as real servers use
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        now = datetime.datetime.now(datetime.timezone.utc)
        alternative_names = [x509.DNSName(host) for host in LOOPBACK_NAMES]
        alternative_names += [x509.IPAddress(ipaddress.ip_address(address)) for address in LOOPBACK_ADDRESSES]
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + VALIDITY)
            .add_extension(x509.SubjectAlternativeName(alternative_names), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256())
        )
        self.ca_bundle = self._directory / "certificate.pem"
        self.ca_bundle.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        key_path = self._directory / "key.pem"
        key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(self.ca_bundle, key_path)

    def wrap(self, connection: socket.socket) -> ssl.SSLSocket:
        """The server side of one accepted connection; the handshake runs here, on the connection's own thread."""
        return self.context.wrap_socket(connection, server_side=True)

    def close(self) -> None:
        shutil.rmtree(self._directory, ignore_errors=True)
