"""Random UUIDs many at a time: the same kind of id as ``uuid.uuid4()``."""

from __future__ import annotations

import uuid

from scheduling import random_ids


def test_uuid4s_are_version_4_rfc_4122_and_distinct() -> None:
    ids = random_ids.uuid4s(2000)

    assert len(ids) == 2000
    assert len(set(ids)) == 2000
    assert {u.version for u in ids} == {4}
    assert {u.variant for u in ids} == {uuid.RFC_4122}


def test_uuid4_strings_are_the_text_of_version_4_uuids() -> None:
    ids = random_ids.uuid4_strings(2000)

    assert len(set(ids)) == 2000
    parsed = [uuid.UUID(text) for text in ids]
    # As str(uuid.uuid4()) writes them: lower case, dashed, 36 characters.
    assert [str(u) for u in parsed] == ids
    assert {u.version for u in parsed} == {4}
    assert {u.variant for u in parsed} == {uuid.RFC_4122}
    # Every variant digit (8, 9, a, b) turns up: the two random bits are kept.
    assert {text[19] for text in ids} == set("89ab")


def test_no_ids_asked_for_none_made() -> None:
    assert random_ids.uuid4s(0) == []
    assert random_ids.uuid4_strings(0) == []
