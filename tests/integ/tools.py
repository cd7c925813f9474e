"""Where the test tools (tests/tools: dnsq, spfcheck) are: in the same build
directory as the ravend under test (RAVEND), so the ASan run of the tests
uses ASan tools too. DNSQ / SPFCHECK in the environment override."""

import os
from pathlib import Path

import raven as rv


def tool(name):
    override = os.environ.get(name.upper())
    if override:
        return override
    build = Path(rv.RAVEND).resolve().parents[2]
    return str(build / "tests" / "tools" / name)
