"""Sample text from a trained language model: `zoo-generate ckpt=<path> prompt="The " length=500`; translate with a
trained translation model: `zoo-generate ckpt=<path> source="jump twice"` (or `input=<file>`, one sentence a line).

The vocabulary travels in the checkpoint, so nothing but the checkpoint file is needed. The same seed
gives the same text; temperature 0 always takes the likeliest next character. A translation is decoded as the run
decoded its test split (task.generate), or by beam search of `beam=` translations.
"""

import sys
from typing import Any

from zoo.errors import ZooError
from zoo.inference.arguments import parse_settings

USAGE = (
    'usage: zoo-generate ckpt=<checkpoint or run directory> [prompt="The "] [length=500] [temperature=0.8] '
    "[top_k=<keep the k likeliest characters>] [seed=0] [device=cpu|cuda]; a translation model: "
    'zoo-generate ckpt=<...> source="<a sentence>"|input=<a file, one sentence a line> [beam=<1: greedy>]'
)
DEFAULTS = {"prompt": "The ", "length": "500", "temperature": "0.8", "top_k": "", "seed": "0", "device": "cpu"}
TRANSLATION = {"source": "", "input": "", "beam": ""}


def number(key: str, text: str, kind: type, minimum: float) -> Any:
    try:
        value = kind(text)
    except ValueError:
        value = None
    if value is None or not value >= minimum:  # also refuses nan
        rule = f"an integer >= {minimum}" if kind is int else f"a number >= {minimum}"
        raise ZooError(f"{key}={text!r} must be {rule}")
    return value


def generate_text(
    ckpt,
    prompt: str = "The ",
    length: int = 500,
    temperature: float = 0.8,
    top_k: int | None = None,
    seed: int = 0,
    device: str = "cpu",
) -> str:
    """`length` characters sampled after `prompt` from the language model saved at `ckpt`."""
    import torch  # here, so that a mistyped setting fails before torch is imported

    from zoo.data.vocabulary import Vocabulary
    from zoo.inference.network import open_network
    from zoo.models import sampling

    if not prompt:
        raise ZooError('prompt= is empty; give the text to continue, e.g. prompt="The " (prompt="\\n" in line mode)')
    if device == "cuda" and not torch.cuda.is_available():
        raise ZooError("device=cuda but this machine has no CUDA GPU; use device=cpu")
    trained = open_network(ckpt)
    if trained.task == "translation":
        raise ZooError(f'{trained.path} is a translation model: give source="<a sentence>" or input=<a file>')
    if trained.task != "language_model":
        raise ZooError(
            f"{trained.path} is a {trained.task} model; zoo-generate samples from language models "
            f"(train one with: python train.py data=text)"
        )
    vocabulary, context = Vocabulary.from_dict(trained.dataset["vocabulary"]), int(trained.dataset["context"])
    net = trained.net.to(device)
    return sampling.sample_text(
        net, vocabulary, context, prompt, length, temperature=temperature, top_k=top_k, seed=seed
    )


def translate(settings: dict) -> list[str]:
    """zoo-generate's translations: of `source=` or of every sentence of `input=`, in order."""
    from zoo.inference.translate import open_translator, sentences_of

    beam = number("beam", settings["beam"], int, 1) if settings["beam"] else None
    sentences = sentences_of(settings["source"], settings["input"])
    translator = open_translator(settings["ckpt"], beam, settings["device"])
    return translator.translate(sentences)


def main() -> None:
    try:
        settings = parse_settings(
            "zoo-generate", sys.argv[1:], USAGE, required=("ckpt",), optional=DEFAULTS | TRANSLATION
        )
        if settings["device"] not in ("cpu", "cuda"):
            raise ZooError(f"device={settings['device']!r} must be cpu or cuda")
        if settings["source"] or settings["input"] or settings["beam"]:
            for line in translate(settings):
                print(line)
            return
        # A shell passes "\n" as two characters: read it as the line break it stands for.
        prompt = settings["prompt"].replace("\\n", "\n")
        text = generate_text(
            settings["ckpt"],
            prompt,
            length=number("length", settings["length"], int, 1),
            temperature=number("temperature", settings["temperature"], float, 0),
            top_k=number("top_k", settings["top_k"], int, 1) if settings["top_k"] else None,
            seed=number("seed", settings["seed"], int, 0),
            device=settings["device"],
        )
    except ZooError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    print(prompt + text)


if __name__ == "__main__":
    main()
