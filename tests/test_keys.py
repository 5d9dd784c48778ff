"""Key tails: the narrowing behind suffix lookups (`node.rtail`) loses no match."""

from __future__ import annotations

import random

import polars as pl

from lineage._keys import (
    BOUNDARY,
    TAIL_PATTERN,
    dataset_key,
    field_key,
    fields_prefix,
    matches_suffix,
    tail,
)

_ALPHABET = "ab:/.@#-_e\u0301\U0001f600"


def _keys(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice(_ALPHABET) for _ in range(rng.randint(1, 12))) for _ in range(n)]


def test_every_suffix_a_key_accepts_ends_the_keys_tail_with_its_own_tail() -> None:
    for key in _keys(2000, 1):
        for start in range(len(key)):
            suffix = key[start:]
            if matches_suffix(key, suffix):
                assert tail(key).endswith(tail(suffix)), (key, suffix)


def test_the_tail_pattern_gives_the_same_tails_as_python() -> None:
    keys = _keys(5000, 2) + ["field:postgres://db.prod:5432/public.transactions.category",
                             "model_version:fraud@3", "feature:x", "abc", "a..b", ""]
    found = pl.Series(keys).str.extract(TAIL_PATTERN, 0).fill_null(pl.Series(keys))
    assert found.to_list() == [tail(k) for k in keys]


def test_a_tail_is_the_last_two_segments() -> None:
    assert tail("field:postgres://db.prod:5432/public.transactions.category") == (
        "transactions.category")
    assert tail("model_version:fraud@3") == "fraud@3"
    assert tail("feature:avg_amount_7d") == "feature:avg_amount_7d"
    assert sum(c in BOUNDARY for c in tail("dataset:s3://b/x.y@2026-01")) == 1


def test_the_bulk_loaders_reversed_tails_reverse_code_points() -> None:
    """The loader reverses ASCII tails as bytes (numpy, the whole buffer at once), others in
    Python: a CR LF pair or a combining accent stays reversed code point by code point."""
    from lineage.store.sql.bulk import _rtail_series, _rtails

    for keys in (["field:ns/t.c", "model_version:fraud@3"] * 10,
                 ["feature:a\r\nb.c\r\nd", "field:ns/t.c"],
                 ["field:ns/caf\u00e9.cre\u0301me", "field:\U0001f600.z\u200d"],
                 ["field:ns/t.", "feature:x", "dataset:a.b.cdefghijklmnopqrstuvwxyz0123"], []):
        assert _rtails(pl.Series(keys, dtype=pl.String)) == [tail(k)[::-1] for k in keys]
        assert _rtail_series(pl.Series(keys, dtype=pl.String)).to_list() == [
            tail(k)[::-1] for k in keys]
    # a slice of a longer column (its texts start past the buffer's beginning)
    keys = [f"field:ns/t{i}.c{i * 7}" for i in range(50)]
    assert _rtails(pl.Series(keys).slice(13, 20)) == [tail(k)[::-1] for k in keys[13:33]]


def test_fields_prefix_is_what_every_field_key_of_the_dataset_starts_with() -> None:
    dataset = dataset_key("postgres://db:5432", "public.orders")
    prefix = fields_prefix(dataset)
    assert prefix == "field:postgres://db:5432/public.orders."
    for name in ("status", "a.b"):  # a field name may hold dots: cut by the prefix
        key = field_key("postgres://db:5432", "public.orders", name)
        assert key.startswith(prefix) and key[len(prefix):] == name
