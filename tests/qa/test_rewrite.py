"""Follow-up rewriting: pronouns and ellipses get the conversation's phrases; standalone questions do not."""

from __future__ import annotations

import time

import pytest

from qa.answer.chat import Turn
from qa.answer.rewrite import explain_followup, rewrite_followup
from qa.core.answers import Answer, ShortAnswer
from qa.core.types import Document


def turn(question: str, short: str | None = None, abstained: bool = False) -> Turn:
    """A past turn whose answer had ``short`` as its short answer."""
    short_answer = ShortAnswer.verified(Document("doc", "", "doc", short), 0, len(short)) if short else None
    return Turn(question, Answer(question, question, "", short_answer, abstained, (), (), 0.0))


def added(question: str, history: list[Turn]) -> tuple[str, ...]:
    return explain_followup(question, history).added


CHOPIN = [turn("Where was Frédéric Chopin born?", "Żelazowa Wola")]


# --- unchanged ------------------------------------------------------------------------------


@pytest.mark.parametrize("question", ["When was he born?", "And in 1973?", "Who built it?", "Why?"])
def test_empty_history_leaves_any_question_unchanged(question: str) -> None:
    assert rewrite_followup(question, []) == question
    assert explain_followup(question, []).reason == "no history"


@pytest.mark.parametrize(
    "question",
    [
        "Who invented the atmospheric engine?",
        "When did the 1973 oil crisis begin?",
        "What is the atomic number of oxygen?",
        "Which court is the highest able to interpret European Union law?",
        # pronouns with their antecedent in the question itself
        "What did Joseph Priestley call the gas he liberated from mercuric oxide?",
        "How many Huguenots were there at their peak around 1562?",
        "Why did the Normans build their castles in stone?",
        # a possessive after a noun the question introduces itself (issue 16)
        "Where does each application install its source XML file?",
        "What does a parser do with its input?",
        # "his" of the predicate bound by the subject name, spelt like a person's or not (chat gold)
        "In what work did Philo of Byzantium describe his experiment with a burning candle?",
        "When did Chopin leave his family?",
        # "that" opening a clause, "there" of "there is"
        "Which gas that Priestley isolated makes candles burn brighter?",
        "How many natural reserves are there in Warsaw?",
    ],
)
def test_standalone_questions_stay_unchanged(question: str) -> None:
    history = [turn("Where was Frédéric Chopin born?", "Żelazowa Wola"), turn("How far is it from Warsaw?", "60 km")]
    assert rewrite_followup(question, history) == question
    assert explain_followup(question, history).reason == "standalone"


def test_a_first_turn_asked_after_a_reset_is_unchanged() -> None:
    assert rewrite_followup("When did he die?", []) == "When did he die?"


# --- pronouns -------------------------------------------------------------------------------


def test_he_after_a_standalone_question_points_at_its_person() -> None:
    rewrite = explain_followup("When did he leave Warsaw?", CHOPIN)
    assert rewrite.query.startswith("When did he leave Warsaw? (")
    assert rewrite.added[0] == "Frédéric Chopin"
    assert rewrite.reason == "pronoun 'he'"


def test_it_cannot_be_a_person_so_it_takes_the_place_answered() -> None:
    assert added("How far is it from Warsaw?", CHOPIN)[0] == "Żelazowa Wola"


def test_she_takes_the_person_answering_a_who_question() -> None:
    history = [turn("Which famous scientist was born in Warsaw?", "Maria Skłodowska-Curie")]
    assert added("What did she research?", history) == ("Maria Skłodowska-Curie", "Warsaw")


def test_his_takes_the_answer_of_a_who_question() -> None:
    history = [turn("Who invented the atmospheric engine?", "Thomas Newcomen")]
    assert added("What was his engine used for?", history)[0] == "Thomas Newcomen"


def test_a_pronoun_chain_keeps_its_referent() -> None:
    # Centering: after a follow-up about Chopin, "he" is still Chopin even though the last
    # answer ("60 km") and the last question's place are no people.
    history = [*CHOPIN, turn("How far is it from Warsaw?", "60 km")]
    assert added("How old was he when his family moved?", history)[0] == "Frédéric Chopin"


def test_a_follow_up_about_a_follow_up_keeps_the_resolved_subject() -> None:
    history = [
        turn("What is the atomic number of oxygen?", "8"),
        turn("What share of the Earth's atmosphere does it make up?", "20.8%"),
    ]
    assert added("Who coined its name?", history)[0] == "oxygen"


def test_they_prefers_a_plural_name() -> None:
    history = [
        turn("When did a group of Huguenots arrive in Brazil?", "1555"),
        turn("What fort did they build there?", "Fort Coligny"),
        turn("Who destroyed it?", "the Portuguese"),
    ]
    assert added("What did they produce?", history)[0] == "Huguenots"


def test_a_subject_pronoun_after_the_auxiliary_is_not_the_wh_phrase() -> None:
    # "Olympics" cannot be what "it" is: "Which Olympics did it host?" asks about something else.
    history = [turn("What is the largest stadium in Australia?", "Melbourne Cricket Ground")]
    rewrite = explain_followup("Which Olympics did it host?", history)
    assert rewrite.reason == "pronoun 'it'"
    assert rewrite.added[0] == "Melbourne Cricket Ground"


def test_an_object_pronoun_is_not_the_subject_before_it() -> None:
    history = [turn("Which court ruled that Microsoft's SkyDrive infringed Sky's trademark?", "High Court")]
    rewrite = explain_followup("What did Microsoft rename it to?", history)
    assert rewrite.reason == "pronoun 'it'"
    assert "SkyDrive" in " ".join(rewrite.added)


def test_his_is_bound_only_by_a_subject_that_may_be_a_person() -> None:
    # "his" after a subject name is the subject's; not after a place or thing, and "its" never after a person.
    rewrite = explain_followup("When did the Melbourne Cricket Ground host his final match?", CHOPIN)
    assert rewrite.reason == "pronoun 'his'"
    assert explain_followup("When did Frédéric Chopin compose its final movement?", CHOPIN).reason == "pronoun 'its'"


def test_an_abstained_or_missing_short_answer_is_not_carried() -> None:
    history = [turn("Who invented the atmospheric engine?", "Thomas Newcomen", abstained=True)]
    assert "Thomas Newcomen" not in added("When did he die?", history)
    history = [turn("Who invented the atmospheric engine?")]
    assert added("What was it used for?", history) == ("atmospheric engine",)


def test_dates_and_numbers_are_no_antecedents() -> None:
    history = [turn("When did BSkyB discontinue the Sky+ Box?", "January 2010")]
    assert added("How many users did it have?", history)[0] == "BSkyB"


@pytest.mark.parametrize(
    "question",
    ["Who ruled there?", "What happened then?", "Why did that happen?", "Who opposed this treaty?"],
)
def test_there_then_and_demonstratives_ask_for_context(question: str) -> None:
    rewrite = explain_followup(
        question, [turn("Which treaty established the Duchy of Normandy?", "Saint-Clair-sur-Epte")]
    )
    assert rewrite.query != question
    assert rewrite.reason.startswith("pronoun")
    assert "Duchy of Normandy" in rewrite.added


def test_phrases_already_in_the_question_are_not_repeated() -> None:
    history = [turn("Where was Frédéric Chopin born?", "Żelazowa Wola")]
    assert "Frédéric Chopin" not in added("How far is it from Frédéric Chopin's home in Warsaw?", history)


# --- ellipsis -------------------------------------------------------------------------------


def test_and_year_carries_the_previous_question_without_its_numbers() -> None:
    history = [turn("What was the price of oil per barrel in 1973?", "$3")]
    rewrite = explain_followup("And in 1974?", history)
    assert rewrite.reason == "ellipsis"
    assert "price" in " ".join(rewrite.added) and "oil" in " ".join(rewrite.added)
    assert "1973" not in rewrite.query


def test_and_name_replaces_the_previous_name() -> None:
    history = [
        turn("How large is the Amazon basin?", "7,000,000 square kilometres"),
        turn("What share of the Amazon rainforest is in Brazil?", "60%"),
    ]
    rewrite = explain_followup("And Peru?", history)
    assert "Brazil" not in rewrite.query
    assert "share" in rewrite.added and any("rainforest" in a for a in rewrite.added)


def test_and_name_keeps_the_subject_of_a_question_with_two_names() -> None:
    history = [turn("How far is Warsaw from the Carpathian Mountains?", "about 300 km")]
    rewrite = explain_followup("And from the Baltic Sea?", history)
    assert rewrite.added[0] == "Warsaw"
    assert "Carpathian Mountains" not in rewrite.query


@pytest.mark.parametrize("question", ["What about its population?", "How about the capital?"])
def test_what_about_is_elliptical(question: str) -> None:
    rewrite = explain_followup(question, [turn("How large is Victoria in Australia?", "227,416 km2")])
    assert "ellipsis" in rewrite.reason
    assert "Victoria" in rewrite.added


def test_a_bare_wh_question_takes_the_previous_subject_and_answer() -> None:
    history = [
        turn("What is the atomic number of oxygen?", "8"),
        turn("Who coined its name?", "Antoine Lavoisier"),
    ]
    rewrite = explain_followup("In what year?", history)
    assert rewrite.reason == "ellipsis"
    assert rewrite.added[:2] == ("oxygen", "Antoine Lavoisier")
    assert rewrite.query.startswith("In what year? (")


# --- form, limits, determinism, speed -------------------------------------------------------


def test_the_question_is_kept_word_for_word_and_context_is_appended() -> None:
    query = rewrite_followup("When was he born?", [turn("Who wrote the Minute Waltz?", "Frédéric Chopin")])
    # the person "he" points at first, then the names of the question that set the subject
    assert query == "When was he born? (Frédéric Chopin; Minute Waltz)"


def test_added_context_is_bounded_however_long_the_history() -> None:
    history = [
        turn(f"What did the Treaty of Place{i} Alpha Beta Gamma establish in Region{i}?", f"Duchy Number{i}")
        for i in range(30)
    ]
    rewrite = explain_followup("Who signed it?", history)
    assert 1 <= len(rewrite.added) <= 4
    assert sum(len(a.split()) for a in rewrite.added) <= 12


def test_rewriting_is_deterministic() -> None:
    history = [*CHOPIN, turn("How far is it from Warsaw?", "60 km")]
    assert len({rewrite_followup("How old was he then?", history) for _ in range(5)}) == 1


def test_rewriting_takes_well_under_a_millisecond_of_cpu() -> None:
    history = [
        turn("Where did miners rebel against the government of Victoria in 1854?", "Ballarat"),
        turn("What were they protesting against?", "mining taxes"),
        turn("What name was given to their rebellion?", "Eureka Stockade"),
        turn("Who crushed it?", "British troops"),
    ]
    rewrite_followup("What happened to its leaders?", history)  # imports and regex caches
    start = time.thread_time()
    for _ in range(200):
        rewrite_followup("What happened to its leaders?", history)
    assert (time.thread_time() - start) / 200 < 1e-3
