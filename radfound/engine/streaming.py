"""Incremental detokenisation for streaming: correct for multi-byte (e.g. Chinese) text and stop strings.

Byte-level BPE can split one character across tokens, so decoding token by token
would emit replacement characters. The stream decodes the whole generated
sequence each time and emits only the new, complete suffix; it also holds back a
tail that could be the start of a stop string, so a stop string never leaks out.

A model can also generate bytes that never form a character (half of a Chinese character, then
ASCII): the decoder turns them into U+FFFD, which would end up in a report as "IMPRESSION:\ufffdYes".
Those replacement characters are dropped from the text and from the deltas alike, so the deltas
still add up to the final text. (A U+FFFD the model spelled out as three valid bytes cannot be told
apart after decoding and is dropped too; it never carries meaning in a report.)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from tokenizers import Tokenizer

_INCOMPLETE = "\ufffd"


class TextStream:
    def __init__(self, tokenizer: Tokenizer, *, stop_strings: Sequence[str] = (),
                 on_text: Callable[[str], None] | None = None):
        self.tokenizer = tokenizer
        self.stop_strings = [s for s in stop_strings if s]
        self.on_text = on_text
        self.ids: list[int] = []
        self.text = ""  # decoded text so far (cut at a stop string once one is seen)
        self.emitted = 0  # characters of ``text`` already passed to on_text
        self.stopped = False

    def push(self, token_id: int) -> bool:
        """Add one generated token; returns True when a stop string has been generated."""
        self.ids.append(int(token_id))
        raw = self.tokenizer.decode(self.ids, skip_special_tokens=True)
        waiting = raw.endswith(_INCOMPLETE)  # maybe a character split across tokens: its bytes may still come
        text = raw.replace(_INCOMPLETE, "")
        for stop in self.stop_strings:
            at = text.find(stop)
            if at >= 0:
                self.text = text[:at]
                self.stopped = True
                self._emit(len(self.text))
                return True
        self.text = text
        if waiting:
            return False  # emit nothing until the character completes (or turns out invalid and is dropped)
        self._emit(len(text) - self._held_back(text))
        return False

    def finish(self) -> str:
        """Flush everything still held back; returns the full text (== the concatenation of all deltas)."""
        self._emit(len(self.text))
        return self.text

    def _held_back(self, text: str) -> int:
        longest = 0
        for stop in self.stop_strings:
            for n in range(min(len(stop) - 1, len(text)), longest, -1):
                if text.endswith(stop[:n]):
                    longest = n
                    break
        return longest

    def _emit(self, upto: int) -> None:
        if upto > self.emitted:
            delta = self.text[self.emitted:upto]
            self.emitted = upto
            if self.on_text is not None:
                self.on_text(delta)
