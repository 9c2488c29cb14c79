"""``python -m gateway``."""

import sys

from gateway.cli import main, python_command

sys.exit(main(prog=f"{python_command()} -m gateway"))
