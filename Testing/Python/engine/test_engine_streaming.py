"""Streaming detokenisation with the real byte-level tokenizer: Chinese characters split over tokens, stop strings."""

from __future__ import annotations

import pytest

from radfound.engine.streaming import TextStream
from radfound.modeling.tokenizer import builtin_tokenizer


@pytest.fixture(scope="module")
def tok():
    return builtin_tokenizer(512)


@pytest.mark.parametrize("text", ["肺部是否有异常？是。病变位于右上腹。",
                                  "No effusion. 心脏大小正常。 <box>1,2,3,4</box>"])
def test_deltas_never_contain_partial_characters(tok, text):
    ids = tok.encode(text, add_special_tokens=False).ids
    assert len(ids) > len(text) / 3  # some characters really are split across byte tokens
    deltas: list[str] = []
    stream = TextStream(tok, on_text=deltas.append)
    for i in ids:
        stream.push(i)
    assert stream.finish() == text
    assert "".join(deltas) == text
    assert all("\ufffd" not in d for d in deltas)


def test_stop_string_cuts_text_and_never_leaks(tok):
    ids = tok.encode("The lungs are clear.\nIMPRESSION: normal", add_special_tokens=False).ids
    deltas: list[str] = []
    stream = TextStream(tok, stop_strings=["\nIMPRESSION"], on_text=deltas.append)
    stopped_at = next(k for k, i in enumerate(ids) if stream.push(i))
    assert stopped_at < len(ids) - 1
    assert stream.finish() == "The lungs are clear."
    assert "".join(deltas) == "The lungs are clear."
