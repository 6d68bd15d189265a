from pathlib import Path

from phm.schema.markdown import data_model_markdown

DOC = Path(__file__).parents[2] / "docs" / "data-model.md"


def test_docs_data_model_is_generated_from_the_schema() -> None:
    assert DOC.read_text() == data_model_markdown(), (
        "docs/data-model.md is stale: run `phm schema > docs/data-model.md`"
    )
