from pathlib import Path

from phm.codelists.markdown import definitions_markdown
from phm.codelists.registry import shipped_registry

DOC = Path(__file__).parents[2] / "docs" / "definitions.md"


def test_docs_definitions_are_generated_from_the_registry() -> None:
    assert DOC.read_text() == definitions_markdown(shipped_registry()) + "\n", (
        "docs/definitions.md is stale: run `phm definitions > docs/definitions.md`"
    )
