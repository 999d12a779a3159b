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


def _byte_token(tok, byte: int) -> int:
    """The id of the byte-level token for one raw byte (GPT-2's byte-to-character table)."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    extra = [b for b in range(256) if b not in printable]
    char = chr(byte) if byte in printable else chr(256 + extra.index(byte))
    token = tok.token_to_id(char)
    assert token is not None, f"no token for byte {byte:#x}"
    return token


@pytest.mark.parametrize("stop_strings", [(), ("Yes",), ("IMPRESSION:Y",)])
def test_bytes_that_never_form_a_character_are_dropped_from_text_and_deltas(tok, stop_strings):
    """The shipped model can emit the first byte of a Chinese character and then ASCII ("IMPRESSION:\\ufffdYes")."""
    head = tok.encode("IMPRESSION:", add_special_tokens=False).ids
    tail = tok.encode("Yes. 心脏", add_special_tokens=False).ids
    ids = head + [_byte_token(tok, 0xE6)] + tail  # 0xE6 opens a 3-byte character that never completes
    assert "\ufffd" in tok.decode(ids, skip_special_tokens=True)
    deltas: list[str] = []
    stream = TextStream(tok, stop_strings=stop_strings, on_text=deltas.append)
    for i in ids:
        if stream.push(i):
            break
    text = stream.finish()
    expected = "IMPRESSION:Yes. 心脏"
    for stop in stop_strings:
        expected = expected[: expected.find(stop)]
    assert text == expected and "".join(deltas) == text
    assert all("\ufffd" not in d for d in deltas)


def test_an_unfinished_character_at_the_end_is_dropped(tok):
    ids = tok.encode("IMPRESSION:", add_special_tokens=False).ids + [_byte_token(tok, 0xE5)]
    deltas: list[str] = []
    stream = TextStream(tok, on_text=deltas.append)
    for i in ids:
        stream.push(i)
    assert stream.finish() == "IMPRESSION:" == "".join(deltas)
