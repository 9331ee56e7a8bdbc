"""The private file store: submissions and hidden ground truth. It has no URL by construction."""

from django.core.files.storage import FileSystemStorage


class PrivateFileSystemStorage(FileSystemStorage):
    """A FileSystemStorage outside MEDIA_ROOT whose files have no URL (nothing may serve them)."""

    def url(self, name: str | None) -> str:
        raise ValueError("files in the private storage have no URL and are never served")
