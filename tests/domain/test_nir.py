"""SPEC §6: the NIR check (key = 97 - N mod 97, Corsica 2A/2B) and its keyed pseudonym."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum.fr import nir as stdnum_nir

from domain import nir
from domain.errors import InvalidNIR
from tests.support import NIR_ALICE, NIR_CORSE, nir_with_key, spaced, valid_nir

KEY_ONE = b"k" * 32
KEY_TWO = b"K" * 32


# -- valid numbers --------------------------------------------------------------------


def test_a_mainland_nir_is_accepted_and_normalised():
    assert nir.normalise(NIR_ALICE) == NIR_ALICE
    assert stdnum_nir.is_valid(NIR_ALICE)


@pytest.mark.parametrize("department", ["2A", "2B"])
def test_corsican_departments_read_2a_as_19_and_2b_as_18(department):
    number = valid_nir(f"19003{department}012345")
    digits = number[:5] + {"2A": "19", "2B": "18"}[department] + number[7:13]

    assert number[13:] == f"{97 - int(digits) % 97:02d}"
    assert nir.normalise(number) == number
    assert stdnum_nir.is_valid(number)


def test_corsican_letters_may_be_given_in_lower_case():
    assert nir.normalise(NIR_CORSE.lower()) == NIR_CORSE


def test_2a_and_2b_give_different_keys_for_the_same_digits():
    assert nir.check_key("190032A012345") != nir.check_key("190032B012345")


def test_a_nir_whose_key_is_97_is_accepted():
    number = nir_with_key(97)
    assert int(number[:13]) % 97 == 0

    assert nir.normalise(number) == number
    assert stdnum_nir.is_valid(number)


def test_a_nir_whose_key_is_01_is_accepted():
    number = nir_with_key(1)
    assert int(number[:13]) % 97 == 96

    assert nir.normalise(number) == number
    assert stdnum_nir.is_valid(number)


def test_a_key_of_00_is_never_valid():
    number = nir_with_key(97)

    with pytest.raises(InvalidNIR, match="wrong key"):
        nir.normalise(number[:13] + "00")


@pytest.mark.parametrize(
    "written",
    [spaced(NIR_ALICE), spaced(NIR_ALICE).replace(" ", "."), f"  {NIR_ALICE[:7]} {NIR_ALICE[7:]} "],
    ids=["spaces", "dots", "mixed"],
)
def test_spaces_and_dots_are_accepted(written):
    assert nir.normalise(written) == NIR_ALICE


# -- invalid numbers ------------------------------------------------------------------


def test_a_wrong_key_is_rejected():
    wrong = NIR_ALICE[:13] + f"{(int(NIR_ALICE[13:]) % 97) + 1:02d}"

    with pytest.raises(InvalidNIR, match="wrong key"):
        nir.normalise(wrong)


@pytest.mark.parametrize("length", [13, 14, 16, 17])
def test_a_wrong_length_is_rejected(length):
    text = (NIR_ALICE * 2)[:length]

    with pytest.raises(InvalidNIR, match=f"expected 15 characters, got {length}"):
        nir.normalise(text)


@pytest.mark.parametrize(
    "written",
    [
        "A" + NIR_ALICE[1:],  # sex
        NIR_ALICE[:3] + "X" + NIR_ALICE[4:],  # month
        NIR_ALICE[:5] + "2C" + NIR_ALICE[7:],  # only 2A and 2B exist
        NIR_ALICE[:5] + "A2" + NIR_ALICE[7:],  # letter in the wrong place of the department
        "2A" + NIR_ALICE[2:],  # Corsica's letters outside the department
        NIR_ALICE[:9] + "2A" + NIR_ALICE[11:],  # in the commune
        NIR_ALICE[:13] + "9A",  # in the key
        NIR_ALICE[:7] + "\u0661" + NIR_ALICE[8:],  # a non-ASCII digit
    ],
    ids=["sex", "month", "2C", "A2", "2A-first", "2A-commune", "key", "arabic-digit"],
)
def test_letters_outside_the_corsican_department_are_rejected(written):
    with pytest.raises(InvalidNIR, match="malformed"):
        nir.normalise(written)


def test_a_rejected_nir_is_never_echoed_in_the_error():
    wrong = NIR_ALICE[:13] + ("00" if NIR_ALICE[13:] != "00" else "01")

    with pytest.raises(InvalidNIR) as problem:
        nir.normalise(wrong)

    assert NIR_ALICE[:13] not in str(problem.value)


@settings(max_examples=300, deadline=None)
@given(
    first_13=st.from_regex(r"\A[0-9]{5}(?:[0-9]{2}|2A|2B)[0-9]{6}\Z"),
    change=st.integers(min_value=1, max_value=96),
)
def test_the_check_agrees_with_stdnum_and_any_other_key_is_rejected(first_13, change):
    number = valid_nir(first_13)
    other_key = f"{(int(number[13:]) - 1 + change) % 97 + 1:02d}"

    assert nir.normalise(number) == number
    assert stdnum_nir.is_valid(number)
    assert not stdnum_nir.is_valid(number[:13] + other_key)
    with pytest.raises(InvalidNIR):
        nir.normalise(number[:13] + other_key)


# -- the pseudonym --------------------------------------------------------------------


def test_the_pseudonym_is_an_hmac_sha256_of_the_normalised_nir():
    expected = hmac.new(KEY_ONE, NIR_ALICE.encode(), hashlib.sha256).hexdigest()[:32]

    assert nir.pseudonym(NIR_ALICE, KEY_ONE) == expected
    assert nir.pseudonymise(spaced(NIR_ALICE), KEY_ONE) == expected


def test_a_long_key_is_hashed_first_as_hmac_requires():
    long_key = bytes(range(100))
    expected = hmac.new(long_key, NIR_ALICE.encode(), hashlib.sha256).hexdigest()[:32]

    assert nir.pseudonym(NIR_ALICE, long_key) == expected


def test_the_pseudonym_depends_on_the_key():
    assert nir.pseudonymise(NIR_ALICE, KEY_ONE) != nir.pseudonymise(NIR_ALICE, KEY_TWO)


def test_different_nirs_get_different_pseudonyms():
    assert nir.pseudonymise(NIR_ALICE, KEY_ONE) != nir.pseudonymise(NIR_CORSE, KEY_ONE)


def test_every_written_form_of_a_nir_gets_the_same_pseudonym():
    forms = {NIR_CORSE, NIR_CORSE.lower(), spaced(NIR_CORSE), spaced(NIR_CORSE).replace(" ", ".")}

    assert len({nir.pseudonymise(form, KEY_ONE) for form in forms}) == 1


@pytest.mark.parametrize("number", [NIR_ALICE, NIR_CORSE, nir_with_key(97), nir_with_key(1)])
def test_the_pseudonym_never_contains_the_nir(number):
    digest = nir.pseudonymise(number, KEY_ONE)

    assert len(digest) == 2 * nir.PSEUDONYM_BYTES
    for part in (number, number[:13], number.lower()):
        assert part.lower() not in digest


def test_pseudonymising_an_invalid_nir_raises():
    with pytest.raises(InvalidNIR):
        nir.pseudonymise(NIR_ALICE[:14], KEY_ONE)


@settings(max_examples=300, deadline=None)
@given(
    first_13=st.from_regex(r"\A[0-9]{5}(?:[0-9]{2}|2A|2B)[0-9]{6}\Z"),
    change=st.integers(min_value=1, max_value=96),
)
def test_pseudonymising_a_batch_in_one_pass_agrees_with_one_nir_at_a_time(first_13, change):
    key = b"k" * 32
    good = valid_nir(first_13)
    wrong = first_13 + f"{(int(good[13:]) - 1 + change) % 97 + 1:02d}"
    texts = [good, spaced(good), good.lower(), wrong, good[:-1], "", "x" * 15, "\uff11" * 15, 184017512345678]

    batch = nir.pseudonymise_each(texts, key)

    expected = []
    for text in texts:
        try:
            expected.append(nir.pseudonymise(text, key) if isinstance(text, str) else None)
        except InvalidNIR:
            expected.append(None)
    assert batch == expected
    assert batch[0] is not None
    assert batch[3] is None
