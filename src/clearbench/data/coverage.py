"""Never-trained tokens: how much of a group's text uses token ids that a model never trained on.

A membership attack on forget vs holdout people is only fair when gold, which saw neither group, has
no systematic reason to find one group stranger. If the tokenizer merged forget names into whole
tokens but broke holdout names into fragments, the share of tokens whose embeddings never received
a gradient differs between the groups, and gold tells them apart on that alone. `token_coverage`
measures that share per group under a model's training configs; the run records it and the report
shows it, and the groups must agree within `MAX_GAP` (one point).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from clearbench.data.split_names import split_percent

TEXT_COLUMNS = ("caption", "question", "answer", "name")
MAX_GAP = 0.01


def texts_of(rows: Iterable[dict]) -> list[str]:
    return [
        value for row in rows for key, value in row.items() if key in TEXT_COLUMNS and isinstance(value, str)
    ]


def token_ids(tokenizer, texts: Sequence[str]) -> list[int]:
    return [token for ids in tokenizer(list(texts), add_special_tokens=False)["input_ids"] for token in ids]


def share_outside(seen: set[int], tokens: list[int]) -> float:
    if not tokens:
        raise ValueError("no tokens to measure")
    return sum(token not in seen for token in tokens) / len(tokens)


def untrained_share(tokenizer, trained: Sequence[str], texts: Sequence[str]) -> float:
    """The fraction of the tokens of `texts` whose ids occur nowhere in `trained`."""
    return share_outside(set(token_ids(tokenizer, trained)), token_ids(tokenizer, texts))


def token_coverage(tokenizer, load, trained_configs: Sequence[str], groups: dict[str, Sequence[str]]) -> dict:
    """{group: share of never-trained tokens, ..., "gap": largest difference, "agree": gap ≤ MAX_GAP}.

    `load(config)` returns a config's rows; `trained_configs` are every config the model trained on
    (its own and its base's); `groups` maps a name (forget, holdout) to the configs holding its rows.
    """
    # The trained texts are tokenized once, not once per group.
    seen = set(token_ids(tokenizer, [text for config in trained_configs for text in texts_of(load(config))]))
    shares = {
        name: share_outside(seen, token_ids(tokenizer, [text for c in configs for text in texts_of(load(c))]))
        for name, configs in groups.items()
    }
    gap = max(shares.values()) - min(shares.values())
    return {**shares, "gap": gap, "agree": gap <= MAX_GAP, "trained_on": list(trained_configs)}


def gold_token_coverage(
    tokenizer_dir: str, data: str, revision: str | None, forget_split: str, trained_configs: Sequence[str]
) -> dict:
    """`token_coverage` of the forget and holdout people's rows under gold's training configs, or
    {"skipped": why} when the source has no holdout configs of its own."""
    from transformers import AutoTokenizer

    from clearbench.data.load import list_configs, load_split

    percent = split_percent(forget_split)
    groups = {
        "forget": [forget_split, f"tofu_{forget_split}"],
        "holdout": [f"holdout{percent}", f"tofu_holdout{percent}"],
    }
    available = set(list_configs(data))
    missing = [config for configs in groups.values() for config in configs if config not in available]
    if missing:
        return {"skipped": f"the source has no {', '.join(missing)} config"}
    try:
        tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    except (OSError, ValueError) as error:  # a checkpoint saved without its tokenizer
        return {"skipped": f"gold's checkpoint has no tokenizer to measure with ({type(error).__name__})"}
    trained = [config for config in trained_configs if config in available]
    return token_coverage(tokenizer, lambda config: load_split(data, config, revision), trained, groups)
