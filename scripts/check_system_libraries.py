"""Say which system package to install when WeasyPrint cannot find Pango (PDFs need it)."""

import sys

try:
    import weasyprint  # noqa: F401
except OSError as exc:
    sys.stderr.write(
        "WeasyPrint cannot load Pango, which Kezek needs to make PDFs:\n"
        f"  {exc}\n"
        "Install it with your system's package manager, for example:\n"
        "  Debian/Ubuntu: sudo apt-get install libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz0b\n"
        "  Fedora:        sudo dnf install pango\n"
        "  macOS:         brew install pango\n"
    )
    sys.exit(1)
