"""Translation tasks with a known answer, generated offline (nothing to download), chosen so that the families differ:

- `copy`: a random string of letters, to itself (the Annotated Transformer's smoke test);
- `reversal`: a random string of letters, reversed: the first output symbol depends on the last input symbol, which
  a recurrent encoder without attention must carry through its one final state;
- `addition`: "a+b" with up to `digits` digits, to the sum (the Keras addition example: one LSTM reaches 99% on 3
  digits);
- `scan`: SCAN's command grammar (Lake and Baroni, 2018): all 20,910 commands such as "jump twice after walk left",
  to their actions ("I_TURN_LEFT I_WALK I_JUMP I_JUMP"); with `data.split=length` it trains on the short action
  sequences and tests on the long ones, where recurrent sequence-to-sequence models fail.
"""

import itertools
import random

GENERATED = ("copy", "reversal", "addition", "scan")
LETTERS = "abcdefghijklmnopqrstuvwxyz"


def generate(kind: str, samples: int, seed: int, max_len: int, digits: int = 3) -> list[tuple[str, str]]:
    """`samples` pairs of the task `kind` drawn with `seed` (scan: all of its commands, in a seeded order). Random
    strings are 4 to `max_len` // 2 letters long, so their targets fit `max_len` with room to spare."""
    rng = random.Random(seed)
    if kind == "scan":
        pairs = scan_commands()
        rng.shuffle(pairs)
        return pairs
    if kind == "addition":
        top = 10**digits - 1
        pairs = []
        for _ in range(samples):
            a, b = rng.randint(0, top), rng.randint(0, top)
            pairs.append((f"{a}+{b}", str(a + b)))
        return pairs
    longest = max(4, max_len // 2)
    strings = ["".join(rng.choices(LETTERS, k=rng.randint(4, longest))) for _ in range(samples)]
    return [(text, text if kind == "copy" else text[::-1]) for text in strings]


PRIMITIVES = {"walk": "I_WALK", "look": "I_LOOK", "run": "I_RUN", "jump": "I_JUMP"}
TURNS = {"left": "I_TURN_LEFT", "right": "I_TURN_RIGHT"}


def scan_verbs() -> list[tuple[str, list[str]]]:
    """SCAN's 34 verb phrases with their actions: a primitive; "turn" or a primitive with a direction, an
    "opposite" direction (turn twice, then act) or "around" one (turn and act, four times)."""
    phrases: list[tuple[str, list[str]]] = [(word, [action]) for word, action in PRIMITIVES.items()]
    for verb, action in [("turn", None), *PRIMITIVES.items()]:
        act = [] if action is None else [action]
        for direction, turn in TURNS.items():
            phrases.append((f"{verb} {direction}", [turn, *act]))
            phrases.append((f"{verb} opposite {direction}", [turn, turn, *act]))
            phrases.append((f"{verb} around {direction}", [turn, *act] * 4))
    return phrases


def scan_commands() -> list[tuple[str, str]]:
    """Every command of SCAN's grammar with its actions: 102 simple ones (a verb phrase, "twice" or "thrice"), and
    each pair of them joined by "and" (in order) or "after" (the second first): 20,910."""
    simple = []
    for phrase, actions in scan_verbs():
        simple.append((phrase, actions))
        simple.append((f"{phrase} twice", actions * 2))
        simple.append((f"{phrase} thrice", actions * 3))
    commands = [(phrase, actions) for phrase, actions in simple]
    for (first, one), (second, two) in itertools.product(simple, repeat=2):
        commands.append((f"{first} and {second}", one + two))
        commands.append((f"{first} after {second}", two + one))
    return [(command, " ".join(actions)) for command, actions in commands]
