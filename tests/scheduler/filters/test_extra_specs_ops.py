"""The extra-spec operator matcher shared by ComputeCapabilitiesFilter and AggregateInstanceExtraSpecsFilter."""

from __future__ import annotations

import pytest

from allotment.scheduler.filters import FilterError
from allotment.scheduler.filters.extra_specs_ops import OPERATORS, match


@pytest.mark.parametrize(
    ("value", "requirement", "expected"),
    [
        # bare value: exact string equality, no numeric meaning
        ("abc", "abc", True),
        ("abc", "abd", False),
        ("1", "1.0", False),
        ("a b", "a b", True),
        (None, "abc", False),
        # "=": numeric minimum
        ("12", "= 8", True),
        ("8", "= 8", True),
        ("4", "= 8", False),
        ("8.5", "= 8.25", True),
        # "==" / "!=" numeric
        ("8", "== 8.0", True),
        ("9", "== 8", False),
        ("9", "!= 8", True),
        ("8.0", "!= 8", False),
        # ">=" / "<="
        ("8", ">= 8", True),
        ("7", ">= 8", False),
        ("8", "<= 8", True),
        ("9", "<= 8", False),
        # string comparisons
        ("QEMU", "s== QEMU", True),
        ("qemu", "s== QEMU", False),
        ("kvm", "s!= QEMU", True),
        ("QEMU", "s!= QEMU", False),
        ("abc", "s< abd", True),
        ("abd", "s< abd", False),
        ("abd", "s<= abd", True),
        ("abe", "s<= abd", False),
        ("abe", "s> abd", True),
        ("abd", "s> abd", False),
        ("abd", "s>= abd", True),
        ("abc", "s>= abd", False),
        ("10", "s< 9", True),  # string order, not numeric
        ("Intel Xeon", "s== Intel Xeon", True),  # the operand is the whole rest of the text
        # <in>: substring of a text value
        ("avx avx2 sse4", "<in> avx2", True),
        ("avx sse4", "<in> avx2", False),
        # <all-in>: every word occurs
        ("avx avx2 sse4", "<all-in> avx sse4", True),
        ("avx avx2", "<all-in> avx sse4", False),
        # <or>: one of the alternatives, exactly
        ("b", "<or> a <or> b <or> c", True),
        ("d", "<or> a <or> b <or> c", False),
        ("a", "<or> a", True),
        ("ab", "<or> a <or> b", False),
        # whitespace around the operator and operand does not matter
        ("8", "  >=   8  ", True),
        ("8", ">=\t8", True),
    ],
)
def test_match(value: str | None, requirement: str, expected: bool) -> None:
    assert match(value, requirement) is expected


def test_list_values_use_membership_for_in_operators() -> None:
    features = ["avx", "avx2", "sse4"]
    assert match(features, "<in> avx2")
    # membership, so a prefix of a feature name is not enough
    assert not match(["avx2"], "<in> avx")
    assert match(features, "<all-in> avx sse4")
    assert not match(features, "<all-in> avx sse5")


def test_list_values_compare_by_text_for_other_operators() -> None:
    assert match(["a"], "s== ['a']")
    assert not match(["a"], "s== a")


@pytest.mark.parametrize("op", sorted(OPERATORS))
def test_missing_host_value_never_matches(op: str) -> None:
    assert match(None, f"{op} 1") is False


def test_non_numeric_host_value_does_not_match_numeric_operators() -> None:
    for op in ("=", "==", "!=", ">=", "<="):
        assert match("lots", f"{op} 4") is False


@pytest.mark.parametrize("op", sorted(OPERATORS))
def test_operator_without_operand_is_an_error(op: str) -> None:
    with pytest.raises(FilterError, match="needs an operand"):
        match("1", op)


@pytest.mark.parametrize("op", ["=", "==", "!=", ">=", "<="])
def test_numeric_operator_with_non_numeric_operand_is_an_error(op: str) -> None:
    with pytest.raises(FilterError, match="not a number"):
        match("1", f"{op} many")


def test_filter_error_is_a_value_error() -> None:
    assert issubclass(FilterError, ValueError)


def test_every_documented_operator_is_known() -> None:
    assert OPERATORS == {"=", "==", "!=", ">=", "<=", "s==", "s!=", "s<", "s<=", "s>", "s>=", "<in>", "<all-in>",
                         "<or>"}
