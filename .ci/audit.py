"""Judge pip-audit's JSON report (read on stdin) for CI.

Fails (exit 1) on a known vulnerability that has a fixed release: upgrading is the fix. One with no fix
yet is listed but does not fail: there is nothing to upgrade to. Packages that could not be checked
(the vulnerability service unreachable, or it does not know the version), or a missing report, give a
loud warning and do not fail: an outside service being down must not block every change, but a check
that did not run must never look like a clean one.
"""

from __future__ import annotations

import json
import sys
from typing import Any


def verdict(report: dict[str, Any]) -> tuple[int, list[str]]:
    """The exit code and the lines to print."""
    fixable, unfixed, unchecked = [], [], []
    dependencies = report.get("dependencies", [])
    for dep in dependencies:
        if "skip_reason" in dep:
            unchecked.append(dep["name"])
        for vuln in dep.get("vulns", []):
            found = f"{dep['name']} {dep['version']}: {vuln['id']}"
            if vuln.get("fix_versions"):
                fixable.append(f"{found}, fixed in {', '.join(vuln['fix_versions'])}")
            else:
                unfixed.append(f"{found}, no fixed release yet")
    lines = [f"VULNERABLE: {line}" for line in fixable] + [f"known, unfixed: {line}" for line in unfixed]
    if unchecked:
        lines.append(
            f"WARNING: dependency audit could not check {len(unchecked)} of {len(dependencies)} packages "
            f"(vulnerability service unreachable or unaware of them): {', '.join(unchecked)}"
        )
    checked = len(dependencies) - len(unchecked)
    lines.append(f"dependency audit: {checked} packages checked, {len(fixable)} with a fixable vulnerability")
    return (1 if fixable else 0), lines


def main() -> int:
    raw = sys.stdin.read()
    try:
        report = json.loads(raw)
    except ValueError:
        print("WARNING: dependency audit did not run: pip-audit gave no report (its error is above)")
        return 0
    code, lines = verdict(report)
    print("\n".join(lines))
    return code


if __name__ == "__main__":
    sys.exit(main())
