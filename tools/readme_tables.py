"""Regenerate the README's generated tables (``make docs``); tests fail when they are out of step.

Between ``<!-- NAME:start -->`` and ``<!-- NAME:end -->``: the journal kinds (from the catalogue,
``mockserver schema journal --markdown``), the conformance rules (from the registry,
``conformance rules --markdown``) and the limits (``mockserver limits``, from ``mockserver.core.limits``).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"
TABLES = {
    "journal-kinds": ["mockserver", "schema", "journal", "--markdown"],
    "conformance-rules": ["conformance", "rules", "--markdown"],
    "limits": ["mockserver", "limits"],
}


def main() -> int:
    text = README.read_text(encoding="utf-8")
    for name, argv in TABLES.items():
        table = subprocess.run([sys.executable, "-m", *argv], capture_output=True, text=True, check=True).stdout
        pattern = re.compile(rf"(<!-- {name}:start -->\n).*?(<!-- {name}:end -->)", re.S)
        if not pattern.search(text):
            raise SystemExit(f"README.md has no <!-- {name}:start --> ... <!-- {name}:end --> markers")
        text = pattern.sub(lambda m, table=table: m.group(1) + table + m.group(2), text)
    README.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
