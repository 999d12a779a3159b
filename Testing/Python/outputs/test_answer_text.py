"""How an answer reads in the panel, the CLI, the text node and the SR: a closed answer shows how the model
weighed the offered answers, never rounded to certainty; a free-text answer shows none."""

from radfound.outputs.text import answer_text, conversation_text
from radfound.tasks.results import Answer


def _answer(text: str, options: dict[str, float], truncated: bool = False) -> Answer:
    return Answer(question="Is there a pleural effusion?", answer=text, model="m", provider="CPU",
                  model_version="1", options=options, truncated=truncated)


def test_closed_answer_shows_the_shares_most_preferred_first():
    assert answer_text(_answer("No", {"Yes": 0.174, "No": 0.826})) == \
        "No (model's preference: No 83%, Yes 17%; not a calibrated probability)"


def test_shares_never_round_to_certainty():
    text = answer_text(_answer("Yes", {"Yes": 0.9996, "No": 0.0004}))
    assert "Yes >99%, No <1%" in text and "100%" not in text and "0%" not in text


def test_free_text_answer_has_no_shares_but_says_when_cut_off():
    assert answer_text(_answer("A round opacity", {})) == "A round opacity"
    assert answer_text(_answer("A round", {}, truncated=True)) == "A round [stopped at the token limit: may be cut off]"


def test_conversation_shows_each_answer_as_read():
    text = conversation_text([_answer("Yes", {"Yes": 0.6, "No": 0.4}), _answer("Left lung", {})])
    assert text == ("Q: Is there a pleural effusion?\nA: Yes (model's preference: Yes 60%, No 40%; not a calibrated"
                    " probability)\n\nQ: Is there a pleural effusion?\nA: Left lung")
