"""process.args must split exactly as Windows' CommandLineToArgvW does."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rules.ingest import split_command_line

CASES = [
    # plain words, runs of spaces and tabs
    ("a b c", ["a", "b", "c"]),
    ("a   b\t\tc", ["a", "b", "c"]),
    # the program name: quoted runs to the next quote, no escapes, and ends there
    (r'"C:\Program Files\App\app.exe" -x', [r"C:\Program Files\App\app.exe", "-x"]),
    (r'"C:\dir\"rest of it', ["C:\\dir\\", "rest", "of", "it"]),
    ('"a"b c', ["a", "b", "c"]),
    ('"unterminated program name', ["unterminated program name"]),
    # unquoted program name keeps quotes and backslashes literally
    (r'C:\a"b\c.exe x', [r'C:\a"b\c.exe', "x"]),
    # a leading space gives an empty program name
    (" p", ["", "p"]),
    # quoted arguments protect whitespace
    ('p "hello there.txt"', ["p", "hello there.txt"]),
    (r'p "C:\Hello there.txt"', ["p", r"C:\Hello there.txt"]),
    # 2n+1 backslashes + quote: n backslashes and a literal quote
    (r'p "hello\"there"', ["p", 'hello"there']),
    (r"p a\\\"b", ["p", 'a\\"b']),
    # 2n backslashes + quote: n backslashes, the quote toggles
    (r'p "hello\\"', ["p", "hello\\"]),
    (r'p "trailing backslash\\" next', ["p", "trailing backslash\\", "next"]),
    (r"p C:\tmp\\\\", ["p", r"C:\tmp\\\\"]),
    # backslashes not followed by a quote are literal
    (r"p a\\b c\d\ ", ["p", r"a\\b", r"c\d" + "\\"]),
    (r"p x\\", ["p", r"x\\"]),
    # empty arguments
    ('p "" ""', ["p", "", ""]),
    ('p ""', ["p", ""]),
    ('p a ""', ["p", "a", ""]),
    # "" inside quotes: a literal quote, and the quoted section ends
    ('p "a""b c"', ["p", 'a"b', "c"]),
    ('p """a"""', ["p", '"a"']),
    ('p "a"""', ["p", 'a"']),
    # quotes in the middle of a word join the pieces
    ('p a"b c"d e', ["p", "ab cd", "e"]),
    # trailing whitespace adds nothing
    ("p a ", ["p", "a"]),
    ("p\t", ["p"]),
    # unterminated quote runs to the end
    ('p "open arg', ["p", "open arg"]),
    # unicode, right-to-left override and emoji are ordinary characters
    ('p \u202eexe.txt 🙂 "日本 語"', ["p", "\u202eexe.txt", "🙂", "日本 語"]),
    # other whitespace-like characters do not separate
    ("p a\u3000b a\nb", ["p", "a\u3000b", "a\nb"]),
    ("", []),
    ("p", ["p"]),
]


@pytest.mark.parametrize(("command_line", "expected"), CASES)
def test_splits_like_command_line_to_argv_w(command_line, expected):
    assert split_command_line(command_line) == expected


def quote_argument(arg: str) -> str:
    """Microsoft's documented way to quote one argument so CommandLineToArgvW returns it."""
    if arg and not any(c in arg for c in ' \t"'):
        return arg
    out = ['"']
    backslashes = 0
    for c in arg:
        if c == "\\":
            backslashes += 1
            continue
        if c == '"':
            out.append("\\" * (backslashes * 2 + 1) + '"')
        else:
            out.append("\\" * backslashes + c)
        backslashes = 0
    out.append("\\" * (backslashes * 2) + '"')
    return "".join(out)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.text(alphabet=st.sampled_from(["a", " ", "\t", '"', "\\", "é", "🙂"])), max_size=6)
)
def test_quoted_arguments_round_trip(args):
    command_line = " ".join(["prog.exe", *(quote_argument(a) for a in args)])
    assert split_command_line(command_line) == ["prog.exe", *args]


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60))
def test_never_fails_and_never_invents_characters(command_line):
    args = split_command_line(command_line)
    for arg in args:
        assert set(arg) <= set(command_line)
