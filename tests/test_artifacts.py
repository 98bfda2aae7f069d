from dataclasses import dataclass, field

from adlib.artifacts import config_hash, to_jsonable
from adlib.data import KeyToDoorDataConfig
from adlib.model import ADConfig


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


def test_hashes_of_cached_artefacts_are_pinned():
    """Golden values, computed before ADConfig.coordinate_embedding existed: a change to hashing that
    would silently orphan every cached model and dataset fails here."""
    hard_model = ADConfig(n_actions=5, n_observations=289, grid_size=17, context_len=80, d_model=64, n_layers=2, n_heads=4,
                          d_ff=128, dropout=0.0, attn_dropout=0.0)
    assert config_hash(hard_model) == "59b72baf416669de"
    assert config_hash(KeyToDoorDataConfig(pairs=((0, 1),))) == "1d424b7119df4a9e"
    assert config_hash(to_jsonable(KeyToDoorDataConfig(pairs=((0, 1),)), for_hash=True)) == "1d424b7119df4a9e"


def test_an_as_before_value_must_match_in_type_too():
    assert config_hash(After(extra=0)) != config_hash(Before())  # 0 == False, but it is not the declared value
