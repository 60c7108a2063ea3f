"""The question parser: the runbook's canonical texts round-trip; everything else gets a clear 400."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.errors import BadRequest
from simulator.platform.parser import candidate, parse_filter_text, parse_question
from simulator.platform.sensors import SensorCatalog

CANONICAL = [
    "Get Online from all machines",
    "Get Online from all machines with 3P Cryptosense - Monitor equals Running",
    "Get 3P Cryptosense - Monitor from all machines",
    "Get File Exists[/opt/cryptosense/bin/cs-host-scanner] from all machines",
    "Get Computer Name and File Exists[/opt/cryptosense/bin/cs-host-scanner] from all machines",
    "Get Computer Name and Computer ID from all machines with Computer Name equals web-a-01 or "
    "Computer Name equals db-b-02",
    "Get Computer Name from all machines with Computer Name contains web and 3P Cryptosense - Monitor "
    "does not equal Running",
]


@pytest.mark.parametrize("text", CANONICAL)
def test_canonical_texts_round_trip(text: str) -> None:
    spec = parse_question(text)
    assert spec.text() == text
    assert candidate(spec, text)["from_canonical_text"] == 1


def test_variants_parse_to_the_canonical_text() -> None:
    spec = parse_question(
        "  get online   FROM ALL MACHINES with 3p cryptosense - monitor is equal to 'Running' "
    )
    assert spec.text() == "Get Online from all machines with 3P Cryptosense - Monitor equals Running"
    assert candidate(spec, "get online ...")["from_canonical_text"] == 0


@pytest.mark.parametrize(
    ("phrase", "operator", "value", "not_flag"),
    [
        ("equals", "Equal", "x-1", False),
        ("does not equal", "Equal", "x-1", True),
        ("contains", "RegexMatch", ".*x\\-1.*", False),
        ("does not contain", "RegexMatch", ".*x\\-1.*", True),
        ("starts with", "RegexMatch", "x\\-1.*", False),
        ("ends with", "RegexMatch", ".*x\\-1", False),
        ("matches", "RegexMatch", "x-1", False),
        ("is greater than", "Greater", "x-1", False),
        ("is less than or equal to", "LessEqual", "x-1", False),
    ],
)
def test_operators(phrase: str, operator: str, value: str, not_flag: bool) -> None:
    (f,) = parse_filter_text(f"Computer Name {phrase} x-1").filters
    assert (f.operator, f.value, f.not_flag) == (operator, value, not_flag)


def test_contains_matches_like_tanium() -> None:
    (f,) = parse_filter_text("Computer Name contains EB-a").filters
    assert f.matches("web-alpha-01") and not f.matches("db-01")
    (g,) = parse_filter_text("Computer ID is greater than 9").filters
    assert g.matches("10") and not g.matches("8")


def test_or_groups_and_values_with_and_inside() -> None:
    group = parse_filter_text("Computer Name equals rock and roll or Computer Name equals jazz")
    assert group.and_flag is False
    assert [f.value for f in group.filters] == ["rock and roll", "jazz"]


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("Online from all machines", "must start with 'Get '"),
        ("Get Onlin from all machines", "unknown sensor"),
        ("Get Online", "from all machines"),
        ("Get Online and from all machines", "expected ' and <sensor>'"),
        ("Get Online Computer Name from all machines", "expected ' and <sensor>'"),
        ("Get Online from all machines where x", "expected 'with'"),
        ("Get Online from all machines with Online frobs x", "expected an operator"),
        (
            "Get Online from all machines with Online equals a and Online equals b or Online equals c",
            "mixing",
        ),
        ("Get File Exists from all machines", "needs a value for filePath"),
        ("Get File Exists[/a from all machines", "unclosed"),
        ("Get Online[x] from all machines", "takes no parameters"),
        ("Get Online from all machines with Computer Name matches (", "regular expression"),
        ("Get Online from all machines with Online equals", "missing value after 'equals'"),
        ("", "non-empty"),
    ],
)
def test_bad_text_gets_a_clear_400(text: str, words: str) -> None:
    with pytest.raises(BadRequest) as info:
        parse_question(text)
    assert words in info.value.text and info.value.text.startswith("400 Bad Request")


def test_non_string_text_is_400() -> None:
    with pytest.raises(BadRequest):
        parse_question(None)
    with pytest.raises(BadRequest):
        parse_question("Get Online from all machines" + " x" * 5000)


# No Hypothesis deadline: the parser is fast, but a loaded CI machine (or the first call warming the
# sensor catalog's regexes) can take longer than the default 200 ms per example; what these tests check
# is what the parser answers, never how fast.
QUICK = settings(deadline=None, max_examples=150)
SENSORS = [s.name for s in SensorCatalog().sensors]
# What each phrase means, written out here (not taken from the parser): (operator, not_flag).
PHRASES = {
    "equals": ("Equal", False),
    "does not equal": ("Equal", True),
    "not equals": ("Equal", True),
    "contains": ("RegexMatch", False),
    "does not contain": ("RegexMatch", True),
    "starts with": ("RegexMatch", False),
    "ends with": ("RegexMatch", False),
    "matches": ("RegexMatch", False),
    "is greater than": ("Greater", False),
    "is greater than or equal to": ("GreaterEqual", False),
    "is less than": ("Less", False),
    "is less than or equal to": ("LessEqual", False),
}
VALUES = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,12}", fullmatch=True)
Meaning = tuple[int, list[tuple[str, bool]], bool]  # selects, (operator, not_flag) per filter, and-joined


@st.composite
def sensor_texts(draw: st.DrawFn) -> str:
    name = draw(st.sampled_from(SENSORS))
    if name == "File Exists":
        return f"{name}[/{draw(VALUES)}]"
    return name


@st.composite
def questions(draw: st.DrawFn) -> tuple[str, Meaning]:
    """A question the grammar accepts (sensors, and maybe filters all joined by one conjunction), with
    what it means."""
    selects = draw(st.lists(sensor_texts(), min_size=1, max_size=3))
    text = "Get " + " and ".join(selects) + " from all machines"
    filters = draw(st.lists(st.tuples(sensor_texts(), st.sampled_from(sorted(PHRASES)), VALUES), max_size=3))
    join = draw(st.sampled_from([" and ", " or "]))
    if filters:
        text += " with " + join.join(f"{s} {p} {v}" for s, p, v in filters)
    text = draw(st.sampled_from([text, text.upper(), "  " + text.replace(" ", "   ") + " "]))
    return text, (len(selects), [PHRASES[p] for _, p, _ in filters], join == " and " or len(filters) < 2)


@QUICK
@given(questions())
def test_grammatical_questions_parse_to_what_they_say(question: tuple[str, Meaning]) -> None:
    text, (selects, filters, and_joined) = question
    spec = parse_question(text)
    assert len(spec.selects) == selects
    group = spec.group.filters if spec.group else ()
    assert [(f.operator, f.not_flag) for f in group] == filters
    assert spec.group is None or spec.group.and_flag is and_joined
    canonical = spec.text()  # and the canonical text reads back to the same question
    again = parse_question(canonical)
    assert again.text() == canonical and again == spec
    assert candidate(again, canonical)["from_canonical_text"] == 1


@st.composite
def cut_questions(draw: st.DrawFn) -> str:
    text, _ = draw(questions())
    return text[: draw(st.integers(0, len(text)))]


@QUICK
@given(st.one_of(st.text(max_size=200), cut_questions()))
def test_any_text_parses_or_is_a_400(text: str) -> None:
    """Arbitrary text, and questions cut anywhere (whole ones included): a QuerySpec, or a 400 saying
    what is wrong; never another exception (a 500)."""
    try:
        answer = parse_question(text).text()
    except BadRequest as exc:
        answer = exc.text
    assert re.fullmatch(r"Get .+ from all machines.*|400 Bad Request: .+", answer, re.DOTALL), answer
