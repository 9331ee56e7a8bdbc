"""The private store on S3-compatible object storage (imported only when configured: needs boto3)."""

from typing import Any

from storages.backends.s3 import S3Storage


class PrivateS3Storage(S3Storage):  # type: ignore[misc]  # django-storages ships no type hints
    """A private bucket for submissions and hidden ground truth. Its files have no URL, not even a signed one."""

    default_acl = "private"
    querystring_auth = True

    def url(
        self,
        name: str | None,
        parameters: dict[str, Any] | None = None,
        expire: int | None = None,
        http_method: str | None = None,
    ) -> str:
        raise ValueError("files in the private storage have no URL and are never served")
