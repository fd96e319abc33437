"""The key=value settings of zoo's small commands (zoo-eval, zoo-predict, zoo-generate, zoo-export)."""

import sys

from zoo.errors import ZooError


def parse_settings(program: str, arguments: list[str], usage: str, required: tuple[str, ...], optional: dict) -> dict:
    """The key=value settings of zoo's small commands (zoo-eval, zoo-predict): every `required` one, and
    the `optional` ones over their defaults. -h or --help prints the usage and exits."""
    if any(argument in ("-h", "--help") for argument in arguments):
        print(usage)
        sys.exit(0)
    settings = dict(optional)
    for argument in arguments:
        key, equals, value = argument.partition("=")
        if not equals or (key not in required and key not in optional):
            raise ZooError(f"{argument!r} is not a {program} setting; {usage}")
        settings[key] = value
    for key in required:
        if not settings.get(key):
            raise ZooError(f"no {key}= given; {usage}")
    return settings
