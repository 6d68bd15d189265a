from pathlib import Path

import pytest
import yaml

from phm.config import PlaceError, load_place
from phm.config.place import PLACES_DIR


def test_southwark_is_the_shipped_default() -> None:
    place = load_place()
    assert place.name == "Southwark"
    assert len(place.practices) == 44
    assert place.list_size == 288_300  # seed 001
    assert {lcn.name: set(lcn.neighbourhoods) for lcn in place.lcns} == {
        "North": {"Bermondsey and Rotherhithe", "Borough and Walworth"},
        "South": {"Dulwich", "Peckham and Camberwell"},
    }
    assert len(place.lsoas) == 166


def test_southwark_lsoa_deprivation_matches_iod2019() -> None:
    deciles = [x.imd_decile for x in load_place().lsoas]
    assert [deciles.count(d) for d in range(1, 11)] == [5, 33, 48, 26, 15, 19, 6, 9, 4, 1]


def test_practice_rows_carry_the_whole_hierarchy() -> None:
    place = load_place()
    rows = place.practice_rows()
    assert len(rows) == 44
    for row in rows:
        assert row["lcn"] == place.lcn_of_neighbourhood[row["neighbourhood"]]
        assert row["place"] == "Southwark"


def _southwark() -> dict:
    return yaml.safe_load((PLACES_DIR / "southwark.yaml").read_text())


def _write(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "place.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_another_place_is_another_file(tmp_path: Path) -> None:
    data = _southwark()
    data["name"], data["code"] = "Elsewhere", "elsewhere"
    data["practices"] = data["practices"][:3]
    place = load_place(_write(tmp_path, data))
    assert place.name == "Elsewhere" and len(place.practices) == 3


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["practices"][0].update(pcn="U00000"), "names unknown PCN 'U00000'"),
        (lambda d: d["practices"].append(dict(d["practices"][0])), "duplicate practice code"),
        (
            lambda d: d["pcns"][0].update(neighbourhood="Atlantis"),
            "unknown neighbourhood 'Atlantis'",
        ),
        (lambda d: d["lsoas"][0].update(imd_decile=11), "less than or equal to 10"),
        (lambda d: d["practices"][0].update(code="bad"), "practices.0.code"),
        (lambda d: d.pop("lcns"), "lcns: Field required"),
    ],
)
def test_inconsistent_places_are_refused_with_a_clear_message(
    tmp_path: Path, change, message: str
) -> None:
    data = _southwark()
    change(data)
    with pytest.raises(PlaceError, match=message):
        load_place(_write(tmp_path, data))


def test_unknown_place_names_the_shipped_ones() -> None:
    with pytest.raises(PlaceError, match="shipped places: southwark"):
        load_place("atlantis")


def test_bad_yaml_is_named(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("name: [unclosed")
    with pytest.raises(PlaceError, match="not valid YAML"):
        load_place(path)
