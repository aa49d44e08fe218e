"""Turning ``text`` or ``input_ids`` into the token ids a transformer runs on, plus readable labels.

Every view takes ``(model, text, *, tokenizer=None, input_ids=None)``. With no tokenizer the one
saved beside the model is loaded from ``model.name_or_path`` with ``local_files_only=True``, so
nothing is ever downloaded; with ``input_ids`` no tokenizer is needed at all (labels then fall
back to ``#id`` when none can be found).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from viz3d.errors import InputError

#: Longest label drawn under a token (longer ones end with an ellipsis).
MAX_LABEL = 12


@dataclass(frozen=True)
class TokenInputs:
    """Token ids of one sequence and their display strings.

    Attributes
    ----------
    ids : torch.Tensor
        ``(1, n)`` int64 ids on the model's device.
    labels : list of str
        One short readable string per token (``" fox"`` shows as ``"fox"``; blanks as ``"␣"``).
    tokenizer : Any or None
        The tokenizer used, when one was given or found.
    """

    ids: torch.Tensor
    labels: list[str]
    tokenizer: Any | None

    def __len__(self) -> int:
        return int(self.ids.shape[1])


def load_tokenizer(model: nn.Module) -> Any:
    """Load the tokenizer saved beside ``model`` (its ``name_or_path`` directory), offline.

    Raises
    ------
    InputError
        When the model has no ``name_or_path`` or no tokenizer can be loaded from it locally.

    Examples
    --------
    >>> from viz3d.zoo import build_sample
    >>> try:
    ...     load_tokenizer(build_sample("gpt2"))  # built from a config: no directory
    ... except InputError as err:
    ...     print("pass tokenizer=" in str(err))
    True
    """
    where = str(getattr(model, "name_or_path", "") or "")
    if not where:
        raise InputError(
            f"{type(model).__name__} has no name_or_path (it was not loaded with from_pretrained), "
            "so no tokenizer sits beside it: pass tokenizer=... or input_ids=... (on the "
            "command line: --ids 10,20,30 instead of --text)"
        )
    try:
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(where, local_files_only=True)
    except Exception as exc:  # transformers raises OSError/ValueError/ImportError variants
        raise InputError(
            f"no tokenizer could be loaded from {where!r} without downloading "
            f"({exc.__class__.__name__}: {exc}); save one there with "
            f"tokenizer.save_pretrained({where!r}), or pass tokenizer=... or input_ids=... "
            "(on the command line: --ids 10,20,30 instead of --text)"
        ) from exc


def model_device(model: nn.Module) -> torch.device:
    """The device of the model's first parameter (CPU for a parameter-free model)."""
    param = next(model.parameters(), None)
    return param.device if param is not None else torch.device("cpu")


def prepare(
    model: nn.Module,
    text: str | None = None,
    *,
    tokenizer: Any | None = None,
    input_ids: torch.Tensor | Sequence[int] | None = None,
) -> TokenInputs:
    """Token ids and labels for ``text`` (tokenized) or ``input_ids`` (taken as they are).

    Parameters
    ----------
    model : torch.nn.Module
        The transformer; its device receives the ids and its directory may hold the tokenizer.
    text : str, optional
        The text to tokenize (special tokens are added as the tokenizer's defaults say).
    tokenizer : transformers tokenizer, optional
        By default the one saved beside the model (see :func:`load_tokenizer`).
    input_ids : tensor or sequence of int, optional
        One sequence of ids, ``(n,)`` or ``(1, n)``, used instead of ``text``.

    Returns
    -------
    TokenInputs

    Examples
    --------
    >>> from viz3d.zoo import build_sample
    >>> tokens = prepare(build_sample("gpt2"), input_ids=[5, 17, 3])
    >>> tokens.labels, tuple(tokens.ids.shape)
    (['#5', '#17', '#3'], (1, 3))
    """
    if (text is None) == (input_ids is None):
        raise InputError(
            "give the tokens one way: text=... or input_ids=... (a single sequence), "
            "on the command line --text or --ids, not both and not neither"
        )
    if input_ids is not None:
        ids = torch.as_tensor(input_ids, dtype=torch.long)
        if ids.dim() == 1:
            ids = ids.unsqueeze(0)
        if ids.dim() != 2 or ids.shape[0] != 1 or ids.shape[1] == 0:
            raise InputError(
                f"input_ids must be one non-empty sequence, shape (n,) or (1, n); "
                f"got {tuple(ids.shape)}"
            )
        if tokenizer is None:
            try:
                tokenizer = load_tokenizer(model)
            except InputError:
                tokenizer = None  # ids need no tokenizer; labels fall back to "#id"
    else:
        if not isinstance(text, str) or not text.strip():
            raise InputError(
                f"the text must be a non-empty string, got {text!r}; give some words "
                "(text=... or --text)"
            )
        tokenizer = tokenizer if tokenizer is not None else load_tokenizer(model)
        ids = torch.as_tensor([tokenizer(text)["input_ids"]], dtype=torch.long)
        if ids.shape[1] == 0:
            raise InputError(f"the tokenizer turned {text!r} into no tokens; try a longer text")
    _check_vocab(model, ids)
    return TokenInputs(
        ids.to(model_device(model)), token_labels(ids[0].tolist(), tokenizer), tokenizer
    )


def token_labels(ids: Sequence[int], tokenizer: Any | None = None) -> list[str]:
    """Short display strings for ``ids``: decoded one by one (so byte-level ``Ġfox`` reads ``fox``).

    Examples
    --------
    >>> token_labels([7, 8])
    ['#7', '#8']
    """
    if tokenizer is None:
        return [f"#{i}" for i in ids]
    labels = []
    for i in ids:
        raw = tokenizer.decode([int(i)])
        text = raw.strip()
        if not text:  # whitespace tokens would be invisible labels
            text = (
                "↵" if "\n" in raw else "␣" if raw else str(tokenizer.convert_ids_to_tokens(int(i)))
            )
        labels.append(text if len(text) <= MAX_LABEL else text[: MAX_LABEL - 1] + "…")
    return labels


def single_token_id(target: int | str, tokenizer: Any | None, vocab_size: int | None) -> int:
    """The id of ``target``: an id as is, or a string that must encode to exactly one token.

    Examples
    --------
    >>> single_token_id(42, None, 100)
    42
    """
    if isinstance(target, str):
        if tokenizer is None:
            raise InputError(
                f"target {target!r} is a string but no tokenizer is available to encode it: "
                "give the target as a token id (target=1234, on the command line --target 1234), "
                "or pass tokenizer=... (a model directory with its tokenizer saved beside it)"
            )
        ids = tokenizer(target, add_special_tokens=False)["input_ids"]
        if len(ids) != 1:
            pieces = tokenizer.convert_ids_to_tokens(ids)
            raise InputError(
                f"target {target!r} is {len(ids)} tokens {pieces}; pass one token (for GPT-2 style "
                "tokenizers mind the leading space, e.g. ' fox') or its id"
            )
        return int(ids[0])
    target = int(target)
    if target < 0 or (vocab_size is not None and target >= vocab_size):
        raise InputError(
            f"target id {target} is outside the vocabulary (ids 0 to {vocab_size - 1}); "
            "give an id in that range or the token as a string (target= / --target)"
            if vocab_size is not None
            else f"target id {target} is negative; give a token id from 0 up (target= / --target)"
        )
    return target


def _check_vocab(model: nn.Module, ids: torch.Tensor) -> None:
    """Fail with a clear message instead of an index error deep inside the embedding."""
    embed = model.get_input_embeddings() if hasattr(model, "get_input_embeddings") else None
    size = getattr(embed, "num_embeddings", None)
    outside = ids[(ids >= size) | (ids < 0)] if size is not None else ids[:0]
    if outside.numel():
        bad = outside[0]
        raise InputError(
            f"token id {int(bad)} is outside the model's vocabulary (ids 0 to {size - 1}): the "
            "tokenizer does not belong to this model; pass the matching tokenizer=... (on the "
            "command line: save the model's own tokenizer in its directory, or give --ids)"
        )
