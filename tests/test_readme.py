"""The README is a front page (issue 27): at most 120 lines, none over 200 characters; its two
commands are the ones CI runs (`.ci/run`); its links resolve; and every number of its claims
table's "ours" column is one that `figures/summary.md` holds (the numbers' one home)."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
MAX_LINES, MAX_WIDTH = 120, 200
NUMBER = re.compile(r"[−-]?\d+\.\d+(?: ± \d+\.\d+)?")


def _ci_commands() -> dict[str, list[str]]:
    """The commands under each `# --- README: <part> ---` marker of .ci/run, quiet flags dropped."""
    parts, current = {}, None
    for line in (ROOT / ".ci" / "run").read_text().splitlines():
        if m := re.match(r"# --- README: (\w+) ---", line):
            current = parts.setdefault(m.group(1), [])
        elif current is not None and line.strip() and not line.startswith("#"):
            current.append(" ".join(w for w in line.split() if w != "-q"))
    return parts


def test_readme_is_one_screen_of_front_page():
    lines = README.splitlines()
    assert len(lines) <= MAX_LINES, f"README.md has {len(lines)} lines (at most {MAX_LINES}): move detail to docs/"
    wide = [i + 1 for i, line in enumerate(lines) if len(line) > MAX_WIDTH]
    assert not wide, f"README.md lines over {MAX_WIDTH} characters: {wide}"


def test_readme_commands_are_what_ci_runs():
    ci = _ci_commands()
    assert ci.get("install") and ci.get("tests"), ".ci/run lost its README markers"
    blocks = re.findall(r"```bash\n(.*?)```", README, re.S)
    install = next(b for b in blocks if "pip install" in b)
    for command in ci["install"]:
        assert command in install, f"README's install command lacks `{command}` that .ci/run runs"
    assert ci["tests"] == ["python -m pytest"] and "python -m pytest\n" in blocks, "the test command differs"


def test_readme_links_resolve():
    targets = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", README)
    missing = [t for t in targets if not t.startswith("http") and not (ROOT / t).exists()]
    assert not missing, f"README links to missing files: {missing}"


def test_claims_table_numbers_come_from_the_summary():
    summary = (ROOT / "figures" / "summary.md").read_text().replace("−", "-")
    lines = README.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| paper claim"))
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append(line)
    assert len(rows) >= 5, "the claims table is gone"
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split(" | ")]
        ours = cells[3]
        for number in NUMBER.findall(ours):
            assert number.replace("−", "-") in summary, (
                f"README claims table: {number} ({cells[0]}) is not in figures/summary.md; "
                "take the number from there")
        assert len(NUMBER.findall(ours)) <= 1, f"one number a cell: {ours!r}"
