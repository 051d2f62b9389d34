"""The programme knowledge content: complete in every language, searchable, danger phrases found."""

from __future__ import annotations

import shutil
import unicodedata
from pathlib import Path

import pytest

from bot.knowledge.base import KnowledgeBase
from bot.knowledge.content import ContentError, load
from bot.knowledge.normalise import fold, terms
from bot.knowledge.sheets import load_sheets
from bot.languages import RIGHT_TO_LEFT, RIGHT_TO_LEFT_MARK, SHIPPED_LANGUAGES, laid_out_for
from bot.paths import KNOWLEDGE_DIR, OFFICE_SHEETS_DIR


@pytest.fixture(scope="module")
def knowledge() -> KnowledgeBase:
    return KnowledgeBase.from_directory(KNOWLEDGE_DIR, SHIPPED_LANGUAGES)


def without_diacritics(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if unicodedata.category(c) != "Mn")


def test_every_shipped_language_has_every_entry_topic_and_danger_list(knowledge):
    # Loading already fails on any gap; this pins what "complete" means.
    assert set(knowledge.content.languages) == set(SHIPPED_LANGUAGES)
    assert len(knowledge.content.entries) >= 40
    for language, texts in knowledge.content.languages.items():
        assert set(texts.entries) == {e.id for e in knowledge.content.entries}, language
        assert set(texts.topics) == set(knowledge.content.topics), language
        assert texts.danger_phrases, language


def test_every_topic_of_the_issue_has_entries(knowledge):
    assert set(knowledge.content.topics) == {
        "programme",
        "money",
        "checkins",
        "privacy",
        "contact",
        "before_return",
    }
    for topic in knowledge.content.topics:
        assert len(knowledge.entries(topic, "counsellor")) >= 3, topic


@pytest.fixture
def content_copy(tmp_path: Path) -> Path:
    for name in ("index.toml", "en.toml", "ro.toml"):
        shutil.copy(KNOWLEDGE_DIR / name, tmp_path / name)
    return tmp_path


def test_a_missing_entry_and_a_changed_placeholder_are_both_reported(content_copy: Path):
    ro = content_copy / "ro.toml"
    text = ro.read_text(encoding="utf-8")
    text = text.replace("[entries.lost-receipt]", "[entries.lost-receipt-gone]", 1)
    text = text.replace("{budget}", "{buget}", 1)
    ro.write_text(text, encoding="utf-8")
    with pytest.raises(ContentError) as raised:
        load(content_copy, ["ro"])
    report = str(raised.value)
    assert "ro.toml: entry 'lost-receipt' is missing" in report
    assert "ro.toml: entry 'lost-receipt-gone' is not in index.toml" in report
    assert "unknown placeholders ['buget']" in report


def test_a_broken_file_names_the_file(content_copy: Path):
    (content_copy / "ro.toml").write_text("[entries\n", encoding="utf-8")
    with pytest.raises(ContentError, match=r"ro\.toml: "):
        load(content_copy, ["ro"])


def test_folding_ignores_case_diacritics_and_script_variants():
    assert terms("Când primesc BANII?", "ro") == terms("cand primesc banii", "ro")
    assert terms("Hvornår får jeg pengene", "da") == terms("hvornaar faar jeg pengene", "da")
    assert terms("Må jeg købe møbler", "da") == terms("maa jeg koebe moebler", "da")
    # Serbian typed in Cyrillic or in Latin letters is the same text.
    assert fold("Када ћу добити новац", "sr") == fold("Kada cu dobiti novac", "sr")
    # Bulgarian as chats type it in Latin letters.
    assert fold("Къде са парите ми? Бележката", "bg") == fold("kude sa parite mi? belejkata", "bg")
    # Arabic and Persian keyboards type yeh and kaf differently.
    assert fold("كيف", "fa") == fold("کیف", "fa")
    assert fold("می\u200cرسد", "fa") == fold("میرسد", "fa")


def test_thai_is_searched_without_spaces_between_words():
    # Tone and vowel marks are dropped first: ได้รับเงิน is read as ไดรบเงน.
    assert terms("ได้รับเงิน", "th") == ["ได", "ดร", "รบ", "บเ", "เง", "งน"]


@pytest.mark.parametrize("language", SHIPPED_LANGUAGES)
def test_questions_find_their_own_entry_also_without_diacritics(knowledge, language):
    misses = []
    for entry in knowledge.content.entries:
        question = knowledge.text(language, entry.id).question
        for typed in (question, without_diacritics(question)):
            found = knowledge.search(language, typed, limit=1)
            if not found or found[0].entry_id != entry.id:
                misses.append((entry.id, typed))
    # A question is the most direct way to ask; nearly all must lead to their own entry.
    assert len(misses) <= len(knowledge.content.entries) // 10, misses


@pytest.mark.parametrize("language", SHIPPED_LANGUAGES)
def test_every_danger_phrase_is_found_in_a_sentence_also_without_diacritics(knowledge, language):
    phrases = knowledge.content.languages[language].danger_phrases
    for phrase in phrases:
        for typed in (phrase, without_diacritics(phrase), phrase.upper()):
            sentence = f"... {typed}!!"
            assert knowledge.signals_danger([language], sentence), (language, typed)


@pytest.mark.parametrize("language", SHIPPED_LANGUAGES)
def test_ordinary_programme_questions_are_not_danger(knowledge, language):
    alarms = [
        entry.id
        for entry in knowledge.content.entries
        if entry.id != "danger-now"
        and knowledge.signals_danger([language], knowledge.text(language, entry.id).question)
    ]
    assert len(alarms) <= 2, alarms


def test_danger_is_found_inside_longer_words_and_thai_text(knowledge):
    assert knowledge.signals_danger(["en"], "The TRAFFICKERS found my sister")
    assert not knowledge.signals_danger(["en"], "When does the money for housing come?")
    thai_phrase = knowledge.content.languages["th"].danger_phrases[0]
    assert knowledge.signals_danger(["th"], f"ช่วยด้วย{thai_phrase}ตอนนี้")


def test_right_to_left_answers_are_marked_on_every_line():
    text = laid_out_for("١٥٠ USD\nمرحبا\n\nIOM", "ar")
    assert [line[:1] for line in text.split("\n")] == [RIGHT_TO_LEFT_MARK] * 2 + [""] + [
        RIGHT_TO_LEFT_MARK
    ]
    assert laid_out_for("150 USD", "ro") == "150 USD"
    assert {"ar", "fa", "ps", "ur"} <= RIGHT_TO_LEFT


def test_the_example_country_sheet_loads_and_says_it_is_an_example(tmp_path: Path):
    sheets = load_sheets(OFFICE_SHEETS_DIR)
    example = sheets["EXAMPLE"]
    assert example.example
    text = example.render("ro", lambda msgid: msgid)
    assert text.startswith("⚠️ Example only")
    assert "EXEMPLU: Vizite la birou" in text
    # No Thai text in the sheet: English is shown instead.
    assert "EXAMPLE: Office visits" in example.render("th", lambda msgid: msgid)
    bad = (OFFICE_SHEETS_DIR / "example.toml").read_text(encoding="utf-8").replace("ro =", "xx1 =")
    (tmp_path / "ro.toml").write_text(bad, encoding="utf-8")
    with pytest.raises(ContentError, match=r"ro\.toml contact: 'xx1' is not a language code"):
        load_sheets(tmp_path)


@pytest.mark.parametrize(
    "message", ["are you there?", "it is urgent", "receipt 3", "ok", "hello how are you", "thanks!"]
)
def test_short_everyday_messages_get_no_automatic_answer(knowledge, message):
    # All common words, or one word and a number: staff answer these, not the knowledge base.
    assert knowledge.confident_match("en", message, "returnee") is None


def test_a_lone_brace_and_an_overlong_answer_are_reported(content_copy: Path):
    ro = content_copy / "ro.toml"
    text = ro.read_text(encoding="utf-8")
    text = text.replace('answer = """', 'answer = """ } ' + "x" * 2600, 1)
    ro.write_text(text, encoding="utf-8")
    with pytest.raises(ContentError) as raised:
        load(content_copy, ["ro"])
    assert "a brace that is not a placeholder" in str(raised.value)
    assert "answer over 2500 characters" in str(raised.value)


_BULGARIAN_OFFICIAL = str.maketrans(
    {"а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ж": "zh", "з": "z", "и": "i",
     "й": "y", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o", "п": "p", "р": "r", "с": "s",
     "т": "t", "у": "u", "ф": "f", "х": "h", "ц": "ts", "ч": "ch", "ш": "sh", "щ": "sht",
     "ъ": "a", "ь": "y", "ю": "yu", "я": "ya"}
)  # fmt: skip


def test_danger_phrases_typed_in_other_spellings_are_found(knowledge):
    # Danish without its letters, as plain vowels.
    for phrase in knowledge.content.languages["da"].danger_phrases:
        plain = phrase.replace("ø", "o").replace("æ", "a").replace("å", "a")
        assert knowledge.signals_danger(["da"], f"hjælp {plain}"), plain
    # Bulgarian in Latin letters, the official way ("ya", "ts", "a" for ъ).
    for phrase in knowledge.content.languages["bg"].danger_phrases:
        latin = phrase.lower().translate(_BULGARIAN_OFFICIAL)
        assert knowledge.signals_danger(["bg"], f"molia {latin}"), latin


def test_macedonian_and_persian_letters_meet_their_typed_forms():
    assert fold("плаќа", "mk") == fold("plakja", "mk") == fold("plaka", "mk")
    assert fold("خانۀ", "fa") == fold("خانه", "fa")
    assert fold("مجھے", "ur") == fold("مجهے", "ur")
    assert "3" not in terms("ใบเสร็จ 3", "th")
