from hypothesis import given
from hypothesis import strategies as st

from phm.ingest.pseudonymise import is_valid_nhs_number, keyed_hash


def with_check_digit(nine: str) -> str | None:
    """The NHS Data Dictionary modulus 11 check digit, or None where 10 makes it invalid."""
    total = sum(int(d) * w for d, w in zip(nine, range(10, 1, -1), strict=True))
    check = 11 - total % 11
    if check == 10:
        return None
    return nine + str(0 if check == 11 else check)


# Numbers allocated in England, Wales and the Isle of Man begin 4, 6 or 7; the
# package also checks the allocation range, not only the check digit.
nine_digits = st.builds(
    lambda first, rest: first + rest,
    st.sampled_from("467"),
    st.text(alphabet="0123456789", min_size=8, max_size=8),
)


@given(nine_digits)
def test_numbers_with_the_right_check_digit_are_valid(nine: str) -> None:
    number = with_check_digit(nine)
    if number is not None:
        assert is_valid_nhs_number(number)
        assert is_valid_nhs_number(f"{number[:3]} {number[3:6]} {number[6:]}")


@given(nine_digits, st.integers(0, 9))
def test_a_wrong_check_digit_is_invalid(nine: str, wrong: int) -> None:
    number = with_check_digit(nine)
    if number is not None and str(wrong) != number[-1]:
        assert not is_valid_nhs_number(nine + str(wrong))


@given(st.text(max_size=14))
def test_anything_else_is_checked_without_crashing(value: str) -> None:
    assert is_valid_nhs_number(value) in (True, False)


def test_keyed_hash_links_within_a_key_and_not_across() -> None:
    assert keyed_hash("943 476 5919", b"a") == keyed_hash("9434765919", b"a")
    assert keyed_hash("9434765919", b"a") != keyed_hash("9434765919", b"b")
    assert len(keyed_hash("9434765919", b"a")) == 64
    assert "9434765919" not in keyed_hash("9434765919", b"a")
