"""MANIFEST parsing and writing, as ONE's spec and tools define it."""

from __future__ import annotations

import json

import pytest

from one_core.errors import InvalidModelError
from one_core.packaging import Connection, IODesc, Manifest, parse_config

MULTI = {
    "major-version": "1", "minor-version": "3", "patch-version": "0",
    "configs": [], "models": ["enc.circle", "dec.circle"], "model-types": ["circle", "circle"],
    "pkg-inputs": ["0:0:0", "1:0:1"], "pkg-outputs": ["1:0:0"],
    "model-connect": [{"from": "0:0:0", "to": ["1:0:0"]}],
}


def test_one_1_0_0_with_model_types() -> None:
    m = Manifest.parse('{"major-version":"1","minor-version":"0","patch-version":"0",'
                       '"models":["add.tflite"],"model-types":["tflite"]}')
    assert m.version == (1, 0, 0) and m.models == ["add.tflite"] and m.model_types == ["tflite"]
    assert m.configs == [] and not m.is_multi_model


def test_model2nnpkg_style_empty_config_and_1_3_1_without_model_types() -> None:
    # ONE's model2nnpkg.py writes "configs": [""] when no config is given
    m = Manifest.parse(json.dumps({"major-version": "1", "minor-version": "2", "patch-version": "0",
                                   "configs": [""], "models": ["a.circle"], "model-types": ["circle"]}))
    assert m.configs == []
    m = Manifest.parse('{"major-version":"1","minor-version":"3","patch-version":"1","models":["x/a.tflite","b.circle"]}')
    assert m.model_types == ["tflite", "circle"]


def test_multi_model_round_trip_is_deterministic() -> None:
    m = Manifest.parse(json.dumps(MULTI))
    assert m.is_multi_model
    assert m.pkg_inputs == [IODesc(0, 0, 0), IODesc(1, 0, 1)]
    assert m.model_connect == [Connection(IODesc(0, 0, 0), [IODesc(1, 0, 0)])]
    text = m.to_json()
    assert json.loads(text) == MULTI and list(json.loads(text)) == list(MULTI)
    assert Manifest.parse(text).to_json() == text and text.endswith("}\n")
    single = Manifest(["a.circle"], ["circle"])
    assert "pkg-inputs" not in single.to_dict() and single.to_dict()["minor-version"] == "3"


def test_unknown_keys_are_kept() -> None:
    m = Manifest.parse(json.dumps({**MULTI, "x-vendor": {"k": 1}}))
    assert m.to_dict()["x-vendor"] == {"k": 1}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"models": None}, "missing key(s) models"),
        ({"major-version": 1.5}, "'major-version' must be a number in a string"),
        ({"major-version": "2"}, "major-version 2 is not supported"),
        ({"models": []}, "'models' is empty"),
        ({"models": "a.circle"}, "'models' must be a list"),
        ({"model-types": ["circle"]}, "2 model(s) but 1 model-types"),
        ({"model-types": ["circle", "onnx"]}, "model-types[1] 'onnx' for dec.circle is not a known model type"),
        ({"models": ["/abs.circle", "dec.circle"]}, "models[0] '/abs.circle' must be a path relative"),
        ({"models": ["../up.circle", "dec.circle"]}, "models[0] '../up.circle' leaves the package"),
        ({"configs": ["../x.cfg"]}, "configs[0] '../x.cfg' must be a file name inside metadata/"),
        ({"pkg-inputs": ["0:0"]}, 'pkg-inputs[0]: "0:0" is not MODEL:SUBGRAPH:INDEX'),
        ({"pkg-outputs": ["2:0:0"]}, "pkg-outputs[0] 2:0:0: model 2 does not exist (the package has 2 model(s))"),
        ({"model-connect": [{"from": "0:0:0"}]}, "model-connect[0]: expected an object with 'from' and 'to'"),
        ({"model-connect": [{"from": "0:0:0", "to": ["1:0:1"]}]},
         "model-connect[0] feeds input 1:0:1, which pkg-inputs[1] already feeds"),
        ({"model-connect": [{"from": "0:0:0", "to": ["0:0:1"]}]}, "connects model 0 to itself"),
    ],
)
def test_invalid_manifests(change: dict, message: str) -> None:
    data = dict(MULTI)
    if change.get("models", 1) is None:
        del data["models"]
    else:
        data.update(change)
    with pytest.raises(InvalidModelError) as info:
        Manifest.parse(json.dumps(data), "pkg: metadata/MANIFEST")
    assert str(info.value).startswith("pkg: metadata/MANIFEST: ") and message in str(info.value)
    assert "\n" not in str(info.value)


def test_not_json() -> None:
    with pytest.raises(InvalidModelError, match=r"^p: not valid JSON \(Expecting"):
        Manifest.parse("{models: [", "p")
    with pytest.raises(InvalidModelError, match="expected a JSON object, found list"):
        Manifest.parse("[]", "p")


def test_io_ranges_checked_against_models() -> None:
    m = Manifest.parse(json.dumps(MULTI))
    m.check_io([[(1, 1)], [(2, 1)]])  # enc: 1 in 1 out; dec: 2 in 1 out
    with pytest.raises(InvalidModelError, match=r"pkg-inputs\[1\] 1:0:1: subgraph 0 of model 1 \(dec.circle\) "
                                                r"has 1 input\(s\), no input 1"):
        m.check_io([[(1, 1)], [(1, 1)]])
    with pytest.raises(InvalidModelError, match=r"model-connect\[0\].from 0:0:0: .* has 0 output\(s\), no output 0"):
        m.check_io([[(1, 0)], [(2, 1)]])
    m.pkg_outputs = [IODesc(1, 3, 0)]
    with pytest.raises(InvalidModelError, match=r"has 1 subgraph\(s\), no subgraph 3"):
        m.check_io([[(1, 1)], [(2, 1)]])


def test_config_lines() -> None:
    assert parse_config("BACKENDS=cpu\n# comment\n  EXECUTOR = Linear # trailing\n\n") == {
        "BACKENDS": "cpu", "EXECUTOR": "Linear"}
    with pytest.raises(InvalidModelError, match=r"^c.cfg:2: expected KEY=VALUE, found 'oops'$"):
        parse_config("A=1\noops\n", "c.cfg")
