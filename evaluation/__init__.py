"""Pentathlon evaluation core: exact, fast and safe scoring of text-to-video retrieval submissions.

A plain package (numpy and h5py; torch optional for GPU tensors). It imports nothing from Django,
DRF or Celery, so participants can run the very code the server runs, offline.
"""

SCORER_VERSION = "1.0.0"

__all__ = ["SCORER_VERSION"]
