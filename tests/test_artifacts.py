from dataclasses import dataclass, field

from adlib.artifacts import config_hash, to_jsonable


@dataclass(frozen=True)
class Before:
    width: int = 8


@dataclass(frozen=True)
class After:
    """``Before`` with a field added later, declared as "as before" when False."""

    width: int = 8
    extra: bool = field(default=False, metadata={"hash_omit_if": False})


@dataclass(frozen=True)
class DefaultChanged:
    """``After`` whose new field later defaults to True: that must change the hash."""

    width: int = 8
    extra: bool = field(default=True, metadata={"hash_omit_if": False})


def test_a_field_added_later_keeps_old_hashes_only_at_its_as_before_value():
    assert config_hash(After()) == config_hash(Before())  # cached artefacts stay valid
    assert config_hash(After(extra=True)) != config_hash(Before())
    assert config_hash(After(width=9)) == config_hash(Before(width=9)) != config_hash(Before())
    assert config_hash(DefaultChanged()) != config_hash(Before())  # the omitted value is fixed, not the default
    assert config_hash({"inner": [After()]}) == config_hash({"inner": [Before()]})  # nested configs too


def test_only_hashing_leaves_fields_out():
    assert to_jsonable(After()) == {"width": 8, "extra": False}
    assert to_jsonable(After(), for_hash=True) == {"width": 8}
    assert to_jsonable(After(extra=True), for_hash=True) == {"width": 8, "extra": True}
