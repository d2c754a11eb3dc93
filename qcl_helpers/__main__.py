"""Command line: ``python -m qcl_helpers info`` prints the active profile and device choice."""
from __future__ import annotations

import argparse
import sys


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m qcl_helpers", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("info", help="print the active profile, the data folder and the device choice")
    args = parser.parse_args(argv)
    if args.command == "info":
        from . import data, devices, profiles

        try:
            prof = profiles.current()
        except profiles.ProfileError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(f"profile: {prof.name} -- {prof.description}")
        print(f"data folder: {data.data_dir()}")
        print(f"devices: {devices.describe()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
