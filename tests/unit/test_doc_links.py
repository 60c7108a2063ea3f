"""The docs a user reads are the docs that hold: README and docs/ link only inside the repository (a user's
clone has nothing beside it), every ``#anchor`` names a heading that exists, every ``tanium-sim ...`` command
they show parses with today's CLI, and every ``make TARGET`` they show is a Makefile target.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from simulator.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "loadtests" / "README.md"]
LINK = re.compile(r"\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?$(.*?)^```", re.MULTILINE | re.DOTALL)
HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$", re.MULTILINE)


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"`|\*\*|\[([^\]]*)\]\([^)]*\)", r"\1", heading).lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = FENCE.sub("", page.read_text(encoding="utf-8"))
    found: set[str] = set()
    for _, heading in HEADING.findall(text):
        slug = github_slug(heading)
        candidate, n = slug, 0
        while candidate in found:  # GitHub numbers repeated headings: slug, slug-1, slug-2 ...
            n += 1
            candidate = f"{slug}-{n}"
        found.add(candidate)
    return found


def test_github_slug_matches_github() -> None:
    assert github_slug("The control namespace `/_sim/`") == "the-control-namespace-_sim"
    assert (
        github_slug("TLS: HTTPS, custom CAs and Java trust stores")
        == "tls-https-custom-cas-and-java-trust-stores"
    )
    assert github_slug("The QA matrix (`make qa QA_URL=...`)") == "the-qa-matrix-make-qa-qa_url"


def test_links_resolve_inside_the_repository_to_existing_anchors() -> None:
    broken = []
    for page in PAGES:
        text = FENCE.sub("", page.read_text(encoding="utf-8"))
        if "../shared" in text:
            broken.append(f"{page.relative_to(ROOT)}: mentions ../shared (not in a user's clone)")
        for link in LINK.findall(text):
            if "://" in link or link.startswith("mailto:"):
                continue
            target, _, anchor = link.partition("#")
            resolved = (page.parent / target).resolve() if target else page
            if ROOT not in resolved.parents or not resolved.exists():
                broken.append(f"{page.relative_to(ROOT)}: {link} (no such file in the repository)")
            elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
                broken.append(f"{page.relative_to(ROOT)}: {link} (no heading with that anchor)")
    assert broken == []


def shell_commands() -> list[tuple[str, str]]:
    """Each command line in the pages' code blocks: (where, the line), continuation lines joined."""
    found = []
    for page in PAGES:
        for block in FENCE.findall(page.read_text(encoding="utf-8")):
            for line in block.replace("\\\n", " ").splitlines():
                line = line.strip().removeprefix("$ ")
                for part in re.split(r"\s*(?:&&|\|\||;|\|)\s*|\s&\s*", line):
                    if part:
                        found.append((page.relative_to(ROOT).as_posix(), part))
    return found


REDIRECT = re.compile(r"\d?>>?|<")


def words(command: str) -> list[str]:
    """The command's words without leading VAR=value assignments, comments, redirections or a trailing `&`."""
    try:
        argv = shlex.split(command, comments=True)
    except ValueError:
        return []
    while argv and re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", argv[0]):
        argv = argv[1:]
    return [
        word
        for i, word in enumerate(argv)
        if word != "&" and not REDIRECT.fullmatch(word) and not (i and REDIRECT.fullmatch(argv[i - 1]))
    ]


def tanium_sim_commands() -> list[tuple[str, list[str]]]:
    commands = []
    for where, line in shell_commands():
        argv = words(line)
        if argv and (argv[0] == "tanium-sim" or argv[0].endswith("/bin/tanium-sim")):
            commands.append((where, argv[1:]))
    return commands


def test_the_docs_show_commands_to_check() -> None:
    subcommands = {argv[0] for _, argv in tanium_sim_commands() if argv}
    assert {"serve", "collect", "qa", "trace", "tls", "runbook", "scenario"} <= subcommands


@pytest.mark.parametrize(
    ("where", "argv"),
    tanium_sim_commands(),
    ids=lambda value: value if isinstance(value, str) else " ".join(value)[:70],
)
def test_every_documented_command_parses(
    where: str, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    if any("<" in word or word.startswith("$") or word == "..." for word in argv):
        argv = [word for word in argv if not ("<" in word or word.startswith("$") or word == "...")]
        if not argv or argv[-1].startswith("--"):
            pytest.skip(
                "a placeholder stands for a value"
            )  # `--token <TOKEN>`: only the words around it count
    parser = build_parser()
    try:
        parser.parse_args(argv)
    except SystemExit as exc:
        if exc.code not in (0, None):  # --help exits 0
            pytest.fail(
                f"{where}: `tanium-sim {' '.join(argv)}` does not parse: {capsys.readouterr().err.strip()}"
            )


def makefile_targets() -> set[str]:
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    return set(re.findall(r"^([a-z][\w-]*)\s*:(?!=)", text, re.MULTILINE))


def test_every_documented_make_target_exists() -> None:
    targets = makefile_targets()
    assert {"run", "test", "check", "qa", "loadtest"} <= targets
    missing = sorted(
        f"{where}: make {argv[1]}"
        for where, line in shell_commands()
        if len(argv := words(line)) > 1
        and argv[0] == "make"
        and not argv[1].startswith("-")
        and "=" not in argv[1]
        if argv[1] not in targets
    )
    assert missing == []
