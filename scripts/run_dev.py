"""Start the web server, the Celery worker and beat from Procfile.dev with honcho's manager.

`honcho start` would read `.env` and hand each process its own PORT; here every process gets the
environment exactly as it was given, so a variable the person set always wins.
"""

import os
import sys
from pathlib import Path

from honcho.environ import parse_procfile
from honcho.manager import Manager


def main() -> int:
    procfile = parse_procfile((Path(__file__).resolve().parent.parent / "Procfile.dev").read_text())
    manager = Manager()
    for name, command in procfile.processes.items():
        manager.add_process(name, command, env=dict(os.environ))
    manager.loop()
    return manager.returncode or 0


if __name__ == "__main__":
    sys.exit(main())
