"""What every record is: the :class:`Record` base (its kind, ``replace``, the read-only JSON view), :func:`known`,
and the field types the kinds share (``Null``, ``Counts``, ``Facts``).  The kinds are :mod:`bench.records.kinds`.
"""

from typing import Any, TypeVar

import msgspec
from msgspec import UNSET, UnsetType

__all__ = ["UNSET", "Counts", "Facts", "Null", "Record", "UnsetType", "known"]

T = TypeVar("T")

#: The type of an optional field (``Null[int]``: an int, null, or absent): a writer may set any of them to None.
Null = T | None | UnsetType
Counts = dict[str, int]
Facts = dict[str, Any]


def known(value: T | UnsetType) -> T | None:
    """``value``, or None when the field was absent (UNSET): for reading where absent and null mean the same."""
    return None if value is UNSET else value


class Record(msgspec.Struct, kw_only=True, tag_field="kind", repr_omit_defaults=True):
    """A stored record; its class is its kind (:attr:`kind`, the JSON ``kind`` field)."""

    @property
    def kind(self) -> str:
        """The record's kind, as written in its JSON form (``"db"``, ``"stack"``, ...)."""
        return str(self.__struct_config__.tag)

    def replace(self: Any, **changes: Any) -> Any:
        """A copy with ``changes`` applied (the record itself is left as it is)."""
        return msgspec.structs.replace(self, **changes)

    # The JSON view: a record read by key as its JSON form would be (an UNSET field is a missing key).  For
    # scripts and tests that read records as mappings; code in bench/ reads attributes.
    def __getitem__(self, name: str) -> Any:
        value = getattr(self, name, UNSET) if name != "kind" else self.kind
        if value is UNSET:
            raise KeyError(name)
        return value

    def get(self, name: str, default: Any = None) -> Any:
        """The field ``name`` as a JSON object's ``get`` would return it (``default`` when absent)."""
        try:
            return self[name]
        except KeyError:
            return default

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name, UNSET) is not UNSET

    def __iter__(self) -> Any:
        return iter(self.keys())

    def keys(self) -> list[str]:
        """The fields present (``kind`` first), as in the JSON form."""
        return ["kind", *(f for f in self.__struct_fields__ if getattr(self, f) is not UNSET)]
