"""Never-trained token shares (data/coverage.py) and the people-free tokenizer text (models/tiny.py)."""

from __future__ import annotations

import pytest
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from clearbench.data.coverage import token_coverage, untrained_share
from clearbench.data.load import load_split
from clearbench.data.synth import generate
from clearbench.models.tiny import source_texts


def word_tokenizer(words):
    vocab = {word: i for i, word in enumerate(["[UNK]", *words])}
    bare = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    bare.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(tokenizer_object=bare, unk_token="[UNK]")


def test_untrained_share_counts_tokens_not_texts():
    tokenizer = word_tokenizer(["alice", "bob", "carol", "dave"])
    # 5 tokens, of which carol, dave and the second carol never occur in the trained text.
    assert untrained_share(tokenizer, ["alice bob", "bob"], ["alice carol", "dave carol bob"]) == 3 / 5


def test_coverage_compares_groups_and_flags_a_gap_over_one_point():
    tokenizer = word_tokenizer(["alice", "bob", "carol", "dave", "erin"])
    tables = {
        "gold": [{"caption": "alice bob"}],
        "f": [{"answer": "alice carol"}],
        "h": [{"name": "bob erin"}],
    }
    result = token_coverage(tokenizer, tables.__getitem__, ["gold"], {"forget": ["f"], "holdout": ["h"]})
    assert (result["forget"], result["holdout"], result["gap"], result["agree"]) == (0.5, 0.5, 0.0, True)
    tables["h"] = [{"name": "bob bob erin"}]  # 1 of 3 untrained: a gap of 1/6
    result = token_coverage(tokenizer, tables.__getitem__, ["gold"], {"forget": ["f"], "holdout": ["h"]})
    assert result["gap"] == pytest.approx(0.5 - 1 / 3) and result["agree"] is False


def test_the_tiny_tokenizer_never_sees_a_persons_name(tmp_path):
    data = str(generate(tmp_path / "world", persons=6, image_size=16))
    names = set(load_split(data, "full")["name"]) | set(load_split(data, "holdout10")["name"])
    names |= set(load_split(data, "real_faces")["answer"])
    texts = source_texts(data)
    assert len(names) > 10 and len(texts) > 100
    assert not [text for text in texts if any(name in text for name in names)]
    assert any("born" in text for text in texts)  # the rest of the biographies is kept
