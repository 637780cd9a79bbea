"""The README's snippets run, and CI runs the README's test command."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
SNIPPETS = re.findall(r"```python\n(.*?)```", README, flags=re.DOTALL)


def test_readme_opens_with_two_commands():
    first_block = re.search(r"```bash\n(.*?)```", README, flags=re.DOTALL).group(1).strip().splitlines()
    assert len(first_block) == 2
    install_and_run, install_and_test = first_block
    assert install_and_run.startswith("pip install torch==2.13.0") and install_and_run.endswith("turngym demo")
    assert install_and_test.startswith("pip install torch==2.13.0") and "pytest" in install_and_test
    assert README.index("```bash") < README.index("\n## ")


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "grep -m1 'pytest'" in ci and "eval" in ci


def test_there_are_snippets_for_every_promised_topic():
    joined = "\n".join(SNIPPETS)
    for needle in ("env.step(", "turngym.register(", "process_rewards=", "make_vec("):
        assert needle in joined


def _snippet_params() -> list:
    """Snippets that start with ``# needs-browser`` carry the ``browser`` marker."""
    return [pytest.param(i, marks=pytest.mark.browser) if s.startswith("# needs-browser") else i for i, s in enumerate(SNIPPETS)]


@pytest.mark.parametrize("index", _snippet_params())
def test_snippet_runs(index, capsys):
    exec(compile(SNIPPETS[index], f"README.md snippet {index}", "exec"), {"__name__": f"readme_{index}"})
