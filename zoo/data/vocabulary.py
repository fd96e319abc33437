"""A text's symbols and their ids (a language model's vocabulary), and reading a text: Python's reference docs,
zoo's offline default corpus, or any UTF-8 file."""

import sys
from pathlib import Path

import torch

from zoo.errors import ZooError

UNKNOWN, BOUNDARY = 0, 1  # ids of the unknown symbol and (line mode only) of the boundary symbol
UNKNOWN_SYMBOL = "\ufffd"  # "�", Unicode's REPLACEMENT CHARACTER: what the unknown id decodes to


IGNORED = -1  # the target of a padded position: nothing to predict there (the loss's ignore_index)


class Vocabulary:
    """Symbols and their ids: 0 is the unknown symbol, 1 the boundary in line mode, then the training
    characters in sorted order. A character never seen in training encodes as 0 and decodes as
    UNKNOWN_SYMBOL; so does UNKNOWN_SYMBOL itself. In line mode "\\n" encodes as the boundary (it
    separates names in a prompt) and the boundary decodes as "\\n"."""

    def __init__(self, characters: str, lines: bool = False) -> None:
        # Line mode's texts hold no "\n" (it splits them); dropping it anyway keeps ids unique.
        dropped = {UNKNOWN_SYMBOL, "\n"} if lines else {UNKNOWN_SYMBOL}
        self.characters = "".join(sorted(set(characters) - dropped))
        self.lines = bool(lines)
        self.symbols = [UNKNOWN_SYMBOL] + (["\n"] if self.lines else []) + list(self.characters)
        self.ids = {symbol: i for i, symbol in enumerate(self.symbols)}

    def __len__(self) -> int:
        return len(self.symbols)

    def __eq__(self, other) -> bool:
        return isinstance(other, Vocabulary) and self.to_dict() == other.to_dict()

    def encode(self, text: str) -> torch.Tensor:
        return torch.tensor([self.ids.get(character, UNKNOWN) for character in text], dtype=torch.long)

    @property
    def start(self) -> int | None:
        """The id that begins every training sample where samples are separate lines (the boundary), else None."""
        return BOUNDARY if self.lines else None

    def default_prompt(self) -> str:
        """The start of a sample: a line break in line mode; else "The " where the corpus has those
        characters, a line break where it has no capital T, say."""
        if self.lines:
            return "\n"
        for prompt in ("The ", "\n"):
            if all(character in self.ids for character in prompt):
                return prompt
        return self.characters[0]

    def encode_prompt(self, prompt: str, key: str = "prompt") -> torch.Tensor:
        """The prompt's ids; a character the training text lacks is refused, not read as the unknown symbol."""
        unknown = sorted({character for character in prompt if character not in self.ids})
        if unknown:
            raise ZooError(
                f"{key}={prompt!r} holds characters the training text never had: "
                f"{''.join(unknown)!r}; use characters of the corpus"
            )
        if self.lines and not prompt.startswith("\n"):
            prompt = "\n" + prompt  # every line mode sample starts at the boundary
        return self.encode(prompt)

    def decode(self, ids) -> str:
        """`ids`: a 1-D tensor or a list of ids. A padding target (-1) or any other id outside the
        vocabulary is an error, not a character."""
        ids = ids.tolist() if isinstance(ids, torch.Tensor) else list(ids)
        outside = [i for i in ids if not 0 <= i < len(self.symbols)]
        if outside:
            raise ValueError(f"id {outside[0]} is not in the vocabulary of {len(self.symbols)} symbols")
        return "".join(self.symbols[i] for i in ids)

    def to_dict(self) -> dict:
        """Plain Python values: checkpoints that hold it open with torch.load(weights_only=True)."""
        return {"characters": self.characters, "lines": self.lines}

    @classmethod
    def from_dict(cls, saved: dict) -> "Vocabulary":
        return cls(saved["characters"], saved["lines"])


def reference_docs() -> str:
    """Python's reference documentation as one text: `pydoc_data.topics`, its topics in sorted order."""
    try:
        from pydoc_data.topics import topics
    except ImportError:
        raise ZooError(
            f"this Python ({sys.executable}) lacks pydoc_data, the default text corpus; "
            f"give data.path=<a UTF-8 text file>"
        ) from None
    return "".join(topics[key] for key in sorted(topics))


def read_text(path: str) -> str:
    """The text of a UTF-8 file, without a byte order mark and with Windows line ends made "\\n"."""
    file = Path(path)
    if not file.exists():
        raise ZooError(
            f"data.path={path}: no such file; give a UTF-8 text file (scripts/download_data.py "
            f"tiny_shakespeare fetches one), or leave data.path out for Python's own docs"
        )
    if not file.is_file():
        raise ZooError(f"data.path={path} is not a file; give a UTF-8 text file")
    try:
        data = file.read_bytes()
    except OSError as error:
        raise ZooError(f"data.path={path} cannot be read: {error.strerror}") from None
    if not data:
        raise ZooError(f"data.path={path} is empty; give a file with text in it")
    nul = data.find(b"\0")
    if nul >= 0:
        raise ZooError(f"data.path={path} is not text: it holds a NUL byte at offset {nul}; give a UTF-8 text file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ZooError(
            f"data.path={path} is not UTF-8 text: byte 0x{data[error.start]:02x} at offset "
            f"{error.start} cannot be decoded ({error.reason}); convert it first, e.g. "
            f"iconv -f latin1 -t utf-8"
        ) from None
    return text.removeprefix("\ufeff").replace("\r\n", "\n")
