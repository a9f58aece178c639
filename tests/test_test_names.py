"""pytest imports test modules by basename (the test folders are not packages): two test files
with one name in different folders stop the whole run at collection."""

from collections import Counter
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def test_every_test_module_has_a_basename_of_its_own():
    names = Counter(path.name for path in TESTS.rglob("test_*.py"))
    assert len(names) > 50, "the scan found too few test files: it is broken"
    assert [name for name, count in names.items() if count > 1] == []
