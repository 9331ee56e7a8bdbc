"""Where the app's private files live and how their stored names are generated."""

from __future__ import annotations

import secrets
import uuid
from typing import TYPE_CHECKING

from django.core.files.storage import Storage, storages

if TYPE_CHECKING:  # annotations only: the models import this module
    from .phases import Phase
    from .submissions import Submission


def private_storage() -> Storage:
    """Storage outside MEDIA_ROOT with no URL: uploaded submissions and hidden ground truth."""
    return storages["private"]


def submission_upload_to(instance: Submission, filename: str) -> str:
    """A generated name; the user's file name is kept only as data (`original_filename`)."""
    return f"submissions/{instance.phase_id}/{uuid.uuid4().hex}.{instance.file_format}"


def ground_truth_upload_to(instance: Phase, filename: str) -> str:
    return f"ground_truth/{instance.challenge_id}/{instance.slug}-{uuid.uuid4().hex}.h5"


def gallery_inputs_upload_to(instance: Phase, filename: str) -> str:
    return f"gallery_inputs/{instance.challenge_id}/{instance.slug}-{uuid.uuid4().hex}.zip"


def new_invite_code() -> str:
    return secrets.token_urlsafe(12)


def new_blinding_secret() -> str:
    """256 bits, hex: the key of a phase's opaque query ids and secret query order."""
    return secrets.token_hex(32)
