"""tests/vectors is a byte-identical copy of ../shared/testdata (third-party
conformance data, used as published): where the original is present, the
copy must not have drifted from it."""
import filecmp
import os

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
COPY = os.path.normpath(os.path.join(HERE, "..", "vectors"))
ORIGINAL = os.path.normpath(os.path.join(HERE, "..", "..", "..", "shared", "testdata"))


def _files(root):
    out = set()
    for d, _, names in os.walk(root):
        for n in names:
            out.add(os.path.relpath(os.path.join(d, n), root))
    return out


def test_copy_has_every_set():
    for name in ("spf", "dkim", "dmarc", "README.md"):
        assert os.path.exists(os.path.join(COPY, name)), name


@pytest.mark.skipif(not os.path.isdir(ORIGINAL), reason="../shared/testdata is not here")
def test_copy_is_identical():
    assert _files(COPY) == _files(ORIGINAL)
    for rel in sorted(_files(ORIGINAL)):
        assert filecmp.cmp(os.path.join(COPY, rel), os.path.join(ORIGINAL, rel), shallow=False), rel
