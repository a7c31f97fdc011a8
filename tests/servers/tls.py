"""A private CA and the certificates signed by it (trustme), for servers that tests start with TLS
and clients that must present a certificate."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class TestCertificates:
    """Files of a private CA: a server certificate for `host` and a client certificate."""

    __test__ = False  # not a pytest test class

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path

    @classmethod
    def make(cls, folder: Path, host: str = "127.0.0.1") -> "TestCertificates":
        import trustme

        authority = trustme.CA()
        server, client = authority.issue_cert(host), authority.issue_cert("dtsctl-node")
        files = cls(*(folder / name for name in ("ca.pem", "server.pem", "server-key.pem", "client.pem",
                                                 "client-key.pem")))
        authority.cert_pem.write_to_path(str(files.ca))
        server.cert_chain_pems[0].write_to_path(str(files.server_cert))
        server.private_key_pem.write_to_path(str(files.server_key))
        client.cert_chain_pems[0].write_to_path(str(files.client_cert))
        client.private_key_pem.write_to_path(str(files.client_key))
        return files

    def client_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.ca))
        context.load_cert_chain(str(self.client_cert), str(self.client_key))
        return context
