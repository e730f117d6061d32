"""The statistics of message experiments, without Odoo: figures checked
against published or hand-computed values."""

import pytest

from .conftest import load_tool

stats = load_tool("experiments")


def test_wilson_interval():
    # 8 of 10: 0.490 to 0.943 (Wilson, 95 %).
    result = stats.share(8, 10)
    assert result.value == 0.8
    assert result.low == pytest.approx(0.4902, abs=1e-3)
    assert result.high == pytest.approx(0.9433, abs=1e-3)
    # None of 5: the interval still has room above zero.
    none = stats.share(0, 5)
    assert none.low == pytest.approx(0.0, abs=1e-12)
    assert none.high == pytest.approx(0.4345, abs=1e-3)
    assert stats.share(0, 0).value is None


def test_two_proportion_z_test():
    # 60 of 100 against 45 of 100: z = 2.12, p = 0.034.
    p = stats.compare(stats.share(60, 100), stats.share(45, 100))
    assert p == pytest.approx(0.0339, abs=1e-3)
    assert stats.verdict(stats.share(45, 100), stats.share(60, 100)) == (
        "challenger",
        pytest.approx(0.0339, abs=1e-3),
    )
    # 52 against 48 of 100: chance.
    better, p = stats.verdict(stats.share(52, 100), stats.share(48, 100))
    assert better is None and p > 0.5


def test_fisher_exact_for_small_groups():
    # 3 of 3 against 0 of 3: p = 0.1 (two-sided), not significant, where the
    # z-test would say 0.014.
    assert stats.compare(stats.share(3, 3), stats.share(0, 3)) == pytest.approx(0.1)
    assert stats.verdict(stats.share(0, 3), stats.share(3, 3))[0] is None
    # 10 of 10 against 0 of 10: exactly 2 / C(20, 10) = 1.08e-5; from 5
    # customers expected per cell on, the z-test's figure is used.
    assert stats.fisher_exact(0, 10, 10, 20) == pytest.approx(1.0825e-5, rel=1e-3)
    better, p = stats.verdict(stats.share(0, 10), stats.share(10, 10))
    assert better == "challenger"
    assert p < 1e-4
    # The classic tea-tasting table: 3 of 4 against 1 of 4, p = 0.486.
    assert stats.fisher_exact(3, 4, 1, 8) == pytest.approx(0.4857, abs=1e-3)


def test_nothing_to_compare():
    assert stats.compare(stats.share(0, 0), stats.share(3, 5)) is None
    assert stats.compare(stats.share(5, 5), stats.share(4, 4)) is None
    assert stats.verdict(stats.share(0, 4), stats.share(0, 4)) == (None, None)


def test_mean_with_interval():
    result = stats.mean([10, 12, 14])
    assert result.value == 12
    # t would be wider; the normal interval: 12 ± 1.96 * 2 / sqrt(3).
    assert result.low == pytest.approx(12 - 1.96 * 2 / 3**0.5, abs=1e-2)
    assert stats.mean([5]).low is None
    assert stats.mean([]).value is None
