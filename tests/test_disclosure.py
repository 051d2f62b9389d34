"""What must never leave a country office (bot/services/disclosure.py): each kind of piece is
found in the languages staff write, ordinary notes pass untouched, and offsets point at the piece
even after emoji, invisible marks and other scripts' digits."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.services.disclosure import Finding, Kind, describe, findings


def found(text: str, **names: list[str]) -> list[tuple[Kind, str]]:
    return [(f.kind, f.fragment(text)) for f in findings(text, **names)]


REFUSED = [
    # PHONE
    ("Call her on +40 721 234 567 after work.", Kind.PHONE, "+40 721 234 567"),
    ("Her number is 0721-234-567.", Kind.PHONE, "0721-234-567"),
    ("Office line (02) 123 4567, ask for the desk.", Kind.PHONE, "(02) 123 4567"),
    ("Sună-o la 0721 234 567 după ora 10.", Kind.PHONE, "0721 234 567"),
    ("Telefonul mamei: 0040721234567", Kind.PHONE, "0040721234567"),
    ("โทร ๐๘๑๒๓๔๕๖๗๘ ได้เลย", Kind.PHONE, "๐๘๑๒๓๔๕๖๗๘"),
    ("เบอร์โทร 081-234-5678 ค่ะ", Kind.PHONE, "081-234-5678"),
    ("اتصل على ٠٧٢١٢٣٤٥٦٧ مساءً", Kind.PHONE, "٠٧٢١٢٣٤٥٦٧"),
    ("شماره: ۰۹۱۲ ۳۴۵ ۶۷۸۹", Kind.PHONE, "۰۹۱۲ ۳۴۵ ۶۷۸۹"),
    ("फोन ९८४१२३४५६७ मा गर्नुहोस्", Kind.PHONE, "९८४१२३४५६७"),
    ("Ring på +45 12 34 56 78 i morgen.", Kind.PHONE, "+45 12 34 56 78"),
    ("Звоните: +7 (495) 123-45-67", Kind.PHONE, "+7 (495) 123-45-67"),
    ("Tel. 0721\u200e234\u200e567 (with marks a phone adds)", Kind.PHONE, "0721\u200e234\u200e567"),
    # EMAIL
    ("Write to ion.popescu@example.ro today.", Kind.EMAIL, "ion.popescu@example.ro"),
    ("Scrie-i la maria_p+ro@mail.example.com.", Kind.EMAIL, "maria_p+ro@mail.example.com"),
    ("อีเมล somchai.j@gmail.com นะคะ", Kind.EMAIL, "somchai.j@gmail.com"),
    ("البريد ahmed.ali@yahoo.com من فضلك", Kind.EMAIL, "ahmed.ali@yahoo.com"),
    ("Skriv til hanne@eksempel.dk.", Kind.EMAIL, "hanne@eksempel.dk"),
    # LINK
    ("See https://example.com/profile?id=7.", Kind.LINK, "https://example.com/profile?id=7"),
    ("Her page: www.facebook.com/ion.popescu", Kind.LINK, "www.facebook.com/ion.popescu"),
    ("Write on t.me/somebody", Kind.LINK, "t.me/somebody"),
    ("Vezi anunțul pe olx.ro/oferta/123", Kind.LINK, "olx.ro/oferta/123"),
    ("Shared fb.me/abc in the chat", Kind.LINK, "fb.me/abc"),
    ("ดูที่ line.me/ti/p/xyz ได้", Kind.LINK, "line.me/ti/p/xyz"),
    ("Chat: wa.me/40721234567", Kind.LINK, "wa.me/40721234567"),
    ("Se hjemmesiden butik.dk", Kind.LINK, "butik.dk"),
    # HANDLE
    ("Her Telegram is @somchai_th", Kind.HANDLE, "@somchai_th"),
    ("Scrie-i pe Telegram la @ion_popescu.", Kind.HANDLE, "@ion_popescu"),
    ("ติดต่อ@somchai99 ได้", Kind.HANDLE, "@somchai99"),
    ("Hendes profil: @hanne1990", Kind.HANDLE, "@hanne1990"),
    # DATE
    ("She travels on 12.03.2027.", Kind.DATE, "12.03.2027"),
    ("Ticket for 12/3, evening bus.", Kind.DATE, "12/3"),
    ("Flight booked 2027-03-12 via Doha.", Kind.DATE, "2027-03-12"),
    ("Leaves 12-03-27 early.", Kind.DATE, "12-03-27"),
    ("Interview on 12 March at the office.", Kind.DATE, "12 March"),
    ("Interview on March 12th, 2027 at the office.", Kind.DATE, "March 12th, 2027"),
    ("Interview on Monday, 12 March.", Kind.DATE, "Monday, 12 March"),
    ("Interview on Monday the 12th.", Kind.DATE, "Monday the 12th"),
    ("Pleacă pe 12 martie cu autobuzul.", Kind.DATE, "12 martie"),
    ("Pleacă pe 3 mai.", Kind.DATE, "3 mai"),
    ("Întâlnirea este pe 12.04.", Kind.DATE, "12.04"),
    ("เดินทางวันที่ 12 มีนาคม", Kind.DATE, "วันที่ 12 มีนาคม"),
    ("พบกันวันที่ 5 นะ", Kind.DATE, "วันที่ 5"),
    ("นัดพบ 5 ม.ค. ที่สำนักงาน", Kind.DATE, "5 ม.ค."),
    ("Hun rejser mandag den 12. marts.", Kind.DATE, "mandag den 12. marts"),
    ("Mødet er d. 3/4.", Kind.DATE, "3/4"),
    ("يسافر في ١٢ مارس", Kind.DATE, "١٢ مارس"),
    ("Она уезжает 3 мая.", Kind.DATE, "3 мая"),
    ("Приходите 12 числа.", Kind.DATE, "12 числа"),
    ("Viaja el 1º de mayo de 2027.", Kind.DATE, "1º de mayo de 2027"),
    ("Ela viaja a 3 de out.", Kind.DATE, "3 de out."),
    ("Shkon më 12 mars.", Kind.DATE, "12 mars"),
    ("روز ۱۲ فروردین می‌رود", Kind.DATE, "۱۲ فروردین"),
    # ADDRESS
    ("Locuiește pe Strada Florilor nr. 12.", Kind.ADDRESS, "Strada Florilor nr. 12"),
    ("Stă în bl. A3, sc. B, ap. 12, et. 3.", Kind.ADDRESS, "bl. A3, sc. B, ap. 12, et. 3"),
    ("Mutată pe Calea Victoriei 15.", Kind.ADDRESS, "Calea Victoriei 15"),
    ("Она живёт: ул. Ленина 5.", Kind.ADDRESS, "ул. Ленина 5"),
    ("Живёт на улице Ленина, д. 5, кв. 12.", Kind.ADDRESS, "улице Ленина, д. 5, кв. 12"),
    ("She lives at 12 Baker Street now.", Kind.ADDRESS, "12 Baker Street"),
    ("Block 4, apartment 12 is hers.", Kind.ADDRESS, "Block 4, apartment 12"),
    ("Hun bor på Vesterbrogade 12.", Kind.ADDRESS, "Vesterbrogade 12"),
    ("บ้านเลขที่ 12 ซอย 5 ถนนสุขุมวิท", Kind.ADDRESS, "บ้านเลขที่ 12 ซอย 5 ถนนสุขุมวิท"),
    ("تسكن في شارع الرشيد", Kind.ADDRESS, "شارع الرشيد"),
    ("خیابان ولیعصر، پلاک 12", Kind.ADDRESS, "خیابان ولیعصر، پلاک 12"),
    ("He lives on Main Street.", Kind.ADDRESS, "Main Street"),
    ("Тя живее на бул. Витоша 12, ж.к. Младост 3.", Kind.ADDRESS, "бул. Витоша 12, ж.к. Младост 3"),
    ("Живи у улици Кнеза Милоша 5.", Kind.ADDRESS, "улици Кнеза Милоша 5"),
    ("Rendez-vous au 12 rue de la Paix.", Kind.ADDRESS, "rue de la Paix"),
    ("Vive en la calle Mayor 5.", Kind.ADDRESS, "calle Mayor 5"),
    ("Jeton në Rruga e Kavajës nr. 5.", Kind.ADDRESS, "Rruga e Kavajës nr. 5"),
    ("Lives in house № 5 now.", Kind.ADDRESS, "№ 5"),
    # NAME
    ("Talked with Mr Popescu about the shop.", Kind.NAME, "Mr Popescu"),
    ("A vorbit cu dna. Ionescu ieri.", Kind.NAME, "dna. Ionescu"),
    ("Встреча с г-жа Петрова прошла хорошо.", Kind.NAME, "г-жа Петрова"),
    ("Встреча с Иваном Петровым прошла хорошо.", Kind.NAME, "Иваном Петровым"),
    ("Yesterday she met Ion Popescu at the market.", Kind.NAME, "Ion Popescu"),
    ("Contact: Ion Popescu, the landlord.", Kind.NAME, "Ion Popescu"),
    ("Hun mødes med Hr. Hansen.", Kind.NAME, "Hr. Hansen"),
    ("التقت السيد أحمد أمس", Kind.NAME, "السيد أحمد"),
    ("คุณสมชาย มาที่สำนักงาน", Kind.NAME, "คุณสมชาย"),
    ("She now works for Popescu Construct SRL.", Kind.NAME, "Popescu Construct"),
]


@pytest.mark.parametrize(("text", "kind", "piece"), REFUSED)
def test_each_kind_is_found(text: str, kind: Kind, piece: str) -> None:
    assert (kind, piece) in found(text)


ALLOWED = [
    # English
    "Settling in well, started a tailoring course in March.",
    "Payout for housing made: 450 USD.",
    "She found housing and goes to the market every week.",
    "Lives near the market and feels safe.",
    "Money left: 1 200 RON; next check-in month 3",
    "Case RO-0001 receipt R-RO-0001-3 approved",
    "Met the Danish Red Cross and IOM in Bucharest about the business plan.",
    "The first 3 months went well; 3 out of 5 receipts approved.",
    "Budget: 3,000 USD in kind, 35.000 NOK over 12 months, 1 200 000 lei in total.",
    "Follow-up in 2027, meeting at 10:00, then 2026-2027 plan.",
    # Romanian
    "S-a mutat într-o locuință nouă și caută de lucru.",
    "A primit 3 mai multe ore de curs în martie.",
    "Plata pentru locuință a fost făcută: 1 500 lei.",
    "Merge bine, se simte în siguranță acasă.",
    "Merge pe stradă la piață în fiecare zi.",
    # Thai
    "เริ่มเรียนทำอาหารแล้ว",
    "ได้รับเงินค่าที่พัก 450 ดอลลาร์แล้ว",
    "สุขภาพดีขึ้น ขอบคุณมาก",
    "คุณภาพชีวิตดีขึ้นในเดือนมีนาคม",
    # Danish
    "Hun har fået bolig og starter på skole i næste måned.",
    "Der er plads til hende på kurset i marts.",
    "Han er på vej til at finde arbejde; 3 ud af 5 kvitteringer er godkendt.",
    # Arabic
    "بدأت دورة خياطة في مارس.",
    "تم دفع 450 دولار للسكن.",
    "إنها بخير وتبحث عن عمل.",
    # Russian
    "Она нашла жильё и ищет работу.",
    "Выплата 450 USD за жильё сделана в марте.",
    "На улице холодно, но всё хорошо.",
    "The street was busy. Street food sells well.",
]


@pytest.mark.parametrize("text", ALLOWED)
def test_ordinary_notes_have_no_findings(text: str) -> None:
    assert found(text) == []


@pytest.mark.parametrize(
    "text",
    [
        "3,000 USD",
        "1 200 lei",
        "35.000 NOK",
        "1 200 000 lei",
        "₦ 1 500 000",
        "4.500.000 paid",
        "12.345,50 lei",
        "years 2026 2027 2028",
        "open 10.00-12.00",
        "receipt R-RO-0001234-3",
        "case RO-0001",
    ],
)
def test_amounts_years_and_codes_are_no_phones(text: str) -> None:
    assert Kind.PHONE not in [kind for kind, _ in found(text)]


@pytest.mark.parametrize(
    "text",
    [
        "in March",
        "month 3",
        "3 months",
        "the year 2027",
        "at 10:00",
        "3 out of 5",
        "3 mai multe",
        "support 24/7",
        "kl. 9.05",
        "in March 3 people came",
        "On Monday 3 people came",
        "12.50 USD",
    ],
)
def test_no_date_without_a_day(text: str) -> None:
    assert Kind.DATE not in [kind for kind, _ in found(text)]


def test_an_email_is_not_also_a_link_or_a_handle() -> None:
    assert found("mail ion.popescu@example.ro") == [(Kind.EMAIL, "ion.popescu@example.ro")]


def test_a_links_digits_are_no_phone() -> None:
    text = "https://example.com/40721234567 and www.example.ro/0721234567"
    assert {kind for kind, _ in found(text)} == {Kind.LINK}


def test_a_phone_written_like_a_date_after_a_prefix_is_a_phone() -> None:
    assert found("+40 21.03.2027") == [(Kind.PHONE, "+40 21.03.2027")]
    assert found("12.03.2027 0721234567") == [(Kind.DATE, "12.03.2027"), (Kind.PHONE, "0721234567")]


def test_a_street_named_after_a_date_is_one_address() -> None:
    assert found("Bulevardul 1 Mai nr. 3") == [(Kind.ADDRESS, "Bulevardul 1 Mai nr. 3")]


def test_known_names_are_found_whole_word_in_any_case_and_accent() -> None:
    known = ["Lars Holm", "Ștefan Ionescu", "Ana"]
    text = "Lars og HOLM talte med stefan; Larsen og Anatol var der ikke."
    assert found(text, known_names=known) == [
        (Kind.NAME, "Lars"),
        (Kind.NAME, "HOLM"),
        (Kind.NAME, "stefan"),
    ]


def test_known_names_in_scripts_without_capitals() -> None:
    assert found("วันนี้สมชายมาที่สำนักงาน", known_names=["สมชาย ใจดี"]) == [(Kind.NAME, "สมชาย")]
    # Arabic joins "and" to the next word: "وأحمد" is "and Ahmed".
    assert found("التقى وأحمد بالمستشار", known_names=["أحمد علي"]) == [(Kind.NAME, "أحمد")]
    assert found("Встретилась с Ивановой", known_names=["Мария Иванова"]) == []


def test_the_counsellors_name_is_allowed_and_a_staff_members_is_refused() -> None:
    text = "Met Maria Jensen and Lars Holm about the plan; Mrs Jensen agreed."
    names = {"known_names": ["Lars Holm", "Maria Jensen"], "allowed_names": ["Maria Jensen"]}
    assert found(text, **names) == [(Kind.NAME, "Lars Holm")]


def test_the_counsellors_name_is_never_found_by_the_heuristics() -> None:
    text = "Talked with Maria Jensen and with Mrs Jensen in Copenhagen."
    assert found(text) == [(Kind.NAME, "Maria Jensen"), (Kind.NAME, "Mrs Jensen")]
    assert found(text, allowed_names=["Maria Jensen"]) == []
    # Another person sharing the counsellor's first name is still refused.
    assert found("She met Maria Popescu.", allowed_names=["Maria Jensen"]) == [
        (Kind.NAME, "Popescu")
    ]


def test_a_name_at_the_start_of_a_sentence_needs_known_names() -> None:
    text = "Ion Popescu came to the office."
    assert found(text) == []
    assert found(text, known_names=["Ion Popescu"]) == [(Kind.NAME, "Ion Popescu")]


def test_offsets_are_right_after_emoji_and_invisible_marks() -> None:
    text = "👩\u200d👧 🙂 Sună\u200f la ٠٧٢١ ٢٣٤ ٥٦٧ 😀 sau ion@example.ro 🇷🇴 @ion_popescu"
    result = findings(text)
    assert [(f.kind, f.fragment(text)) for f in result] == [
        (Kind.PHONE, "٠٧٢١ ٢٣٤ ٥٦٧"),
        (Kind.EMAIL, "ion@example.ro"),
        (Kind.HANDLE, "@ion_popescu"),
    ]
    assert result[0] == Finding(Kind.PHONE, text.index("٠"), text.index(" 😀"))


def test_a_known_thai_name_keeps_its_marks() -> None:
    text = "พบคุณแม่ของมานี่แล้ว"
    assert found(text, known_names=["มานี่"]) == [(Kind.NAME, "มานี่")]


def test_describe_tells_each_kind_with_its_piece_cut_short() -> None:
    text = "Call +40 721 234 567 or see https://example.com/" + "a" * 60
    described = describe(findings(text), text)
    assert described[0] == (Kind.PHONE, "+40 721 234 567")
    kind, piece = described[1]
    assert kind is Kind.LINK
    assert len(piece) == 40
    assert piece.startswith("https://example.com/aaa")
    assert piece.endswith("…")
    assert Kind.PHONE == "phone"


# --- Properties -------------------------------------------------------------------------------

ORDINARY = [sentence for sentence in ALLOWED if "RO-0001" not in sentence] + [
    "Case RO-0001 receipt R-RO-0001-3 approved."
]
DIGITS = ["0123456789", "٠١٢٣٤٥٦٧٨٩", "۰۱۲۳۴۵۶۷۸۹", "०१२३४५६७८९", "๐๑๒๓๔๕๖๗๘๙"]
PIECES = [
    *ORDINARY,
    "12.03.2027", "+40 721", "234 567", "ion@", "example.ro", "@handle", "Strada", "nr. 5", "Mr",
    "Ion Popescu", "ул.", "ซอย", "شارع", "March", "12", " ", "\n", ". ", "-", "/", "(", ")",
    "\u200f", "🙂", "\u0301", "๓", "٣",
]  # fmt: skip


@given(st.text(max_size=300) | st.lists(st.sampled_from(PIECES), max_size=30).map("".join))
@settings(max_examples=300, deadline=None)
def test_findings_are_in_bounds_sorted_and_never_overlap(text: str) -> None:
    result = findings(text, known_names=["Ion Popescu", "สมชาย"], allowed_names=["Maria"])
    end = 0
    for finding in result:
        assert end <= finding.start < finding.end <= len(text)
        end = finding.end


@st.composite
def phone_numbers(draw: st.DrawFn) -> str:
    def digits(low: int, high: int) -> str:
        return draw(st.text(alphabet="0123456789", min_size=low, max_size=high))

    separator = draw(st.sampled_from(["", " ", "-", ".", "/"]))
    groups = separator.join(digits(2, 4) for _ in range(draw(st.integers(2, 4))))
    country = str(draw(st.integers(1, 999)))
    starts = [
        "+" + country + " ",
        "00" + country + separator,
        "0" + digits(2, 3) + separator,
        "(0" + digits(1, 3) + ") ",
    ]
    number = draw(st.sampled_from(starts)) + groups
    if sum(c.isdigit() for c in number) < 7:
        number += separator + digits(4, 4)
    script = draw(st.sampled_from(DIGITS))
    return number.translate(str.maketrans("0123456789", script))


e_mails = st.builds(
    "{}@{}.{}".format,
    st.from_regex(r"[a-z][a-z0-9._+\-]{0,15}", fullmatch=True),
    st.from_regex(r"[a-z][a-z0-9\-]{0,10}(\.[a-z][a-z0-9]{0,6})?", fullmatch=True),
    st.sampled_from(["com", "ro", "dk", "org", "th", "net", "co.uk"]),
)


def _inserted(draw: st.DrawFn, piece: str) -> tuple[str, int]:
    """Ordinary sentences with the piece between two of them, and where the piece starts."""
    before = draw(st.lists(st.sampled_from(ORDINARY), max_size=3))
    after = draw(st.lists(st.sampled_from(ORDINARY), max_size=3))
    head = " ".join(before) + " " if before else ""
    return head + piece + (" " + " ".join(after) if after else ""), len(head)


@given(st.data(), phone_numbers())
@settings(max_examples=300, deadline=None)
def test_a_phone_in_ordinary_text_is_always_found(data: st.DataObject, phone: str) -> None:
    text, start = _inserted(data.draw, phone)
    assert any(
        f.kind is Kind.PHONE and f.start <= start and start + len(phone) <= f.end
        for f in findings(text)
    ), (text, phone, found(text))


@given(st.data(), e_mails)
@settings(max_examples=300, deadline=None)
def test_an_email_in_ordinary_text_is_always_found(data: st.DataObject, e_mail: str) -> None:
    text, start = _inserted(data.draw, e_mail)
    assert any(
        f.kind is Kind.EMAIL and f.start <= start and start + len(e_mail) <= f.end
        for f in findings(text)
    ), (text, e_mail, found(text))
