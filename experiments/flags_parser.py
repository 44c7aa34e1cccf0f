"""app.run's flags_parser for the experiment scripts: a flag value refused while parsing (an enum,
a bound, an absl validator) is reported as one line naming the flag, with exit status 2, as
common.main_wrapper reports the checks made later. absl's own report is two lines and status 1.

    app.run(common.main_wrapper(main), flags_parser=flags_parser.parse_flags)
"""

from __future__ import annotations

import sys

from absl import flags


def parse_flags(argv: list[str]) -> list[str]:
    """FLAGS(argv): the positional arguments; a flags.Error exits with one line, status 2."""
    try:
        return flags.FLAGS(argv)
    except flags.Error as e:
        print("error: " + "; ".join(line.strip() for line in str(e).splitlines() if line.strip()),
              file=sys.stderr)
        sys.exit(2)
