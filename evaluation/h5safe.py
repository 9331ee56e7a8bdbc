"""The one rule for every HDF5 file the server opens (docs/design.md, section 5).

Submissions, ground truths and expert stores are all read through this module:

* HDF5 gets an open Python file object (h5py's ``fileobj`` driver), never a path of its own;
* an object is reached through hard links only: soft, external and user-defined links are refused;
* a group's length (one metadata lookup) is compared with a cap before the group is listed;
* an array's data must lie in the file: external raw storage and virtual datasets are refused, and so
  are filters other than gzip, shuffle, fletcher32 and lzf (for others HDF5 would load plugins);
* the checks run on the object that is then read, each time it is read: a file replaced after an
  earlier inspection is judged afresh.

Refusals are `HDF5RuleError`, whose sentence names the object inside the file and never a server
path or the library's own text; each reader turns it into its own typed error.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import h5py
import numpy as np

#: Links a group may hold unless the caller says otherwise.
MAX_GROUP_LINKS = 1024
#: Largest dimension of any array: every size is computed in Python integers and bounded by this.
MAX_DIMENSION = 2**31

_DEFLATE, _SHUFFLE, _FLETCHER32, _LZF = 1, 2, 3, 32000
#: Filters built into HDF5 or h5py; any other would make HDF5 look for a plugin on the server.
BUILTIN_FILTERS = (_DEFLATE, _SHUFFLE, _FLETCHER32, _LZF)

NOT_HDF5 = "is not a readable HDF5 file; expected an intact .h5 file"
NOT_A_HARD_LINK = (
    "entry {name!r} is a soft or external link; expected data stored in the file itself (hard links only)"
)
TOO_MANY_LINKS = "group {name!r} holds {count:,} entries; at most {limit:,} are allowed"
EXTERNAL_STORAGE = (
    "array {name!r} stores its data outside the file (external storage); expected data inside the file"
)
VIRTUAL_DATASET = (
    "array {name!r} is a virtual dataset (its data lives in other files); expected data inside the file"
)
FILTER_REFUSED = (
    "array {name!r} uses the HDF5 filter {code}; expected no compression, or gzip or lzf with optional"
    " shuffle and fletcher32"
)
UNREADABLE_ENTRY = "entry {name!r} is listed but cannot be opened; expected an intact HDF5 file"
NEITHER = "entry {name!r} is neither a group nor an array; expected groups and arrays only"
DIMENSION_TOO_LARGE = (
    "array {name!r} declares shape {shape}, a dimension above {limit:,}; expected real array sizes"
)
STORAGE_SHORT = "array {name!r} is truncated: its data runs past the end of the file"


class HDF5RuleError(ValueError):
    """A file breaks the rule. `detail` is a sentence for the file's owner."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class SafeFile:
    """An HDF5 file opened read-only through a Python file object. Use as a context manager.

    Attributes:
        root: the h5py file (its root group); reach objects with `child` and `keys`.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        try:
            self._raw: BinaryIO = open(Path(path), "rb")  # noqa: SIM115 - closed by close()
        except OSError:
            raise HDF5RuleError(NOT_HDF5) from None
        try:
            self.root = h5py.File(self._raw, "r")
        except Exception:  # h5py raises OSError, ValueError... on anything that is not HDF5
            self._raw.close()
            raise HDF5RuleError(NOT_HDF5) from None

    def close(self) -> None:
        try:
            self.root.close()
        finally:
            self._raw.close()

    def __enter__(self) -> SafeFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def read_contiguous(self, node: h5py.Dataset, out: np.ndarray) -> None:
        """Read a checked contiguous array's bytes from the file itself, into `out` (native order).

        HDF5 is asked only where the data starts; the bytes come from this file's own descriptor.
        """
        check_dataset(node)
        name = node.name
        dtype = node.dtype
        nbytes = out.size * dtype.itemsize
        offset = node.id.get_offset()
        if offset is None:  # never written: HDF5 would return the fill value
            out[...] = node.fillvalue
            return
        fd = self._raw.fileno()
        if offset + nbytes > os.fstat(fd).st_size:
            raise HDF5RuleError(STORAGE_SHORT.format(name=name))
        target = out if dtype.isnative else np.empty(out.shape, dtype=dtype)
        view = target.reshape(-1).view(np.uint8).data
        filled = 0
        while filled < nbytes:
            got = os.preadv(fd, [view[filled : filled + 64 * 1024 * 1024]], offset + filled)
            if not got:
                raise HDF5RuleError(STORAGE_SHORT.format(name=name))
            filled += got
        if target is not out:
            out[...] = target


def keys(group: h5py.Group, *, limit: int = MAX_GROUP_LINKS) -> list[str]:
    """The names in `group`, after its length is compared with `limit` (nothing is listed above it)."""
    count = len(group)
    if count > limit:
        raise HDF5RuleError(TOO_MANY_LINKS.format(name=group.name, count=count, limit=limit))
    return list(group.keys())


def child(group: h5py.Group, key: str, *, limit: int = MAX_GROUP_LINKS) -> h5py.Group | h5py.Dataset | None:
    """`group[key]` when it is a hard link to a group (of at most `limit` entries) or to an array whose
    data lies in the file; None when there is no such entry."""
    try:
        link = group.get(key, getlink=True)
    except (KeyError, ValueError):
        return None
    if link is None:
        return None
    name = f"{group.name.rstrip('/')}/{key}"
    if not isinstance(link, h5py.HardLink):
        raise HDF5RuleError(NOT_A_HARD_LINK.format(name=name))
    node = group[key]
    if isinstance(node, h5py.Group):
        count = len(node)
        if count > limit:
            raise HDF5RuleError(TOO_MANY_LINKS.format(name=name, count=count, limit=limit))
        return node
    if isinstance(node, h5py.Dataset):
        check_dataset(node)
        return node
    raise HDF5RuleError(NEITHER.format(name=name))


def check_dataset(node: h5py.Dataset) -> None:
    """Refuse an array whose data lies outside the file, that HDF5 would need a plugin to read, or
    whose shape declares a dimension above `MAX_DIMENSION`."""
    name = node.name
    plist = node.id.get_create_plist()
    if plist.get_layout() == h5py.h5d.VIRTUAL:
        raise HDF5RuleError(VIRTUAL_DATASET.format(name=name))
    if plist.get_external_count() > 0:
        raise HDF5RuleError(EXTERNAL_STORAGE.format(name=name))
    for index in range(plist.get_nfilters()):
        code = plist.get_filter(index)[0]
        if code not in BUILTIN_FILTERS:
            raise HDF5RuleError(FILTER_REFUSED.format(name=name, code=code))
    shape = node.shape or ()
    if any(int(n) > MAX_DIMENSION for n in shape):
        raise HDF5RuleError(DIMENSION_TOO_LARGE.format(name=name, shape=tuple(shape), limit=MAX_DIMENSION))


def walk(
    group: h5py.Group, *, limit: int = MAX_GROUP_LINKS, max_objects: int = 100_000, max_depth: int = 8
) -> Iterator[tuple[str, Any]]:
    """Every object under `group` (path, object), each checked by `child`, depth first; refuses more
    than `max_objects` objects or deeper nesting than `max_depth` (a hard-link cycle ends there)."""
    stack: list[tuple[h5py.Group, int]] = [(group, 0)]
    seen = 0
    while stack:
        current, depth = stack.pop()
        for key in keys(current, limit=limit):
            node = child(current, key, limit=limit)
            if node is None:  # listed by `keys` a moment ago: the group's metadata is damaged
                raise HDF5RuleError(UNREADABLE_ENTRY.format(name=f"{current.name.rstrip('/')}/{key}"))
            seen += 1
            if seen > max_objects:
                raise HDF5RuleError(
                    TOO_MANY_LINKS.format(name=group.name, count=seen, limit=max_objects).replace(
                        "holds", "holds at least"
                    )
                )
            yield node.name, node
            if isinstance(node, h5py.Group):
                if depth + 1 >= max_depth:
                    raise HDF5RuleError(
                        f"group {node.name!r} is nested more than {max_depth} levels deep; expected a"
                        " shallow layout"
                    )
                stack.append((node, depth + 1))
