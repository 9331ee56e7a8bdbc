"""Reference retrieval baselines for Pentathlon: Collaborative Experts, MoEE and TeachText.

A plain package (PyTorch, numpy, h5py): no Django, DRF or Celery import. It trains on an expert-feature
store (`baselines.store`), scores offline with `evaluation.metrics` (the functions the server uses) and
writes submission files the site ingests like any participant's (`baselines.pipeline`).
"""

__all__: list[str] = []
