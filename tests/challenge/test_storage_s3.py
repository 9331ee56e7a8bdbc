"""The private S3 storage never gives a URL (needs boto3, skipped otherwise)."""

from __future__ import annotations

import pytest


def test_private_s3_storage_has_no_url(monkeypatch):
    pytest.importorskip("boto3")
    import socket

    def no_network(*args, **kwargs):
        raise AssertionError("the private storage tried to reach the network")

    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(socket.socket, "connect", no_network)
    from challenge.storage_s3 import PrivateS3Storage

    storage = PrivateS3Storage(bucket_name="private", access_key="x", secret_key="y")
    assert storage.default_acl == "private"
    with pytest.raises(ValueError, match="never served"):
        storage.url("submissions/1/x.npz")
