"""An agent reads its task's declaration from config.json, where `apply` keeps it beside the
attributes, without loading the declaration model; a configuration written without it (by an
earlier dtsctl), or in another form, is read from the attributes with the model as before."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from dtsctl.errors import DtsError
from dtsctl.runtime.agent_control import Agent
from dtsctl.runtime.layout import RuntimePaths
from dtsctl.runtime.lifecycle import DECLARATION_FORMAT, declaration, pipeline_for


def sqlite_endpoint(path: Path) -> dict[str, Any]:
    return {"engine": "sqlite", "path": str(path), "host": None, "port": None, "user": None, "password": None,
            "database": None, "cluster": False}


def synchronization(tmp_path: Path, **overrides: Any) -> dict[str, Any]:
    return {"type": "synchronization", "source": "src", "destination": "dst",
            "source_endpoint": sqlite_endpoint(tmp_path / "source.db"),
            "destination_endpoint": sqlite_endpoint(tmp_path / "destination.db"),
            "objects": [{"database": "main", "all": True}], "status": "running", **overrides}


def subscription(tmp_path: Path) -> dict[str, Any]:
    return {"type": "subscription", "source": "src", "source_endpoint": sqlite_endpoint(tmp_path / "source.db"),
            "objects": [{"database": "main", "all": True}], "status": "running", "retention": {"hours": 48},
            "consumer_groups": {"billing": None, "audit": {"start": "earliest"}}}


def kept(attributes: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    """The declaration as an agent reads it back from the config.json `write_config` wrote."""
    agent = Agent(RuntimePaths(tmp_path / "runtime"), "task.kept")
    agent.write_config("id-1", attributes, [])
    return agent.config()["declared"]


def test_write_config_keeps_the_declaration_with_every_default_filled_in(tmp_path: Path) -> None:
    declared = kept(synchronization(tmp_path, throttle={"rps": 100, "windows": [{"from": "09:00", "to": "18:00"}]}),
                    tmp_path)
    assert declared["format"] == DECLARATION_FORMAT
    assert declared["retry"]["connection_minutes"] == 720 and declared["on_position_lost"] == "fail"
    assert declared["phases"] == ["schema", "full", "incremental"] and declared["conflict_policy"] == "fail"
    assert declared["throttle"]["windows"] == [{"from": "09:00", "to": "18:00", "rps": None, "mbps": None}]
    assert declared["objects"][0]["dml"] == ["insert", "update", "delete"]
    assert "source_endpoint" not in declared, "only what the engine reads of the declaration, no endpoint"


@pytest.mark.parametrize("make", [
    lambda tmp_path: synchronization(tmp_path, conflict_policy="overwrite", on_position_lost="reseed",
                                     throttle={"rps": 5, "windows": [{"from": "22:00", "to": "06:00", "mbps": 2}],
                                               "timezone": "Asia/Shanghai"},
                                     objects=[{"database": "main", "tables": ["orders"],
                                               "filter": {"orders": "id > 10"}}]),
    subscription,
], ids=["synchronization", "subscription"])
def test_the_kept_declaration_gives_the_pipeline_the_attributes_give(tmp_path: Path, make: Any) -> None:
    attributes = make(tmp_path)
    from_config = pipeline_for(attributes, "id-1", kept(attributes, tmp_path))
    from_model = pipeline_for(attributes, "id-1")
    assert from_config.spec == from_model.spec
    assert getattr(from_config, "subscription", None) == getattr(from_model, "subscription", None)


def test_an_agent_builds_its_pipeline_without_loading_the_model(tmp_path: Path) -> None:
    agent = Agent(RuntimePaths(tmp_path / "runtime"), "task.fast")
    agent.write_config("id-1", synchronization(tmp_path), [])
    loaded = subprocess.run([sys.executable, "-c", f"""
import json, sys
import dtsctl.runtime.agent_process
from dtsctl.runtime.lifecycle import pipeline_for
config = json.load(open({str(agent.paths.config)!r}))
pipeline_for(config["attributes"], config["task_id"], config["declared"])
print(json.dumps(sorted(name for name in sys.modules if name.split(".")[0] == "pydantic"
                        or name == "dtsctl.config.model")))
"""], capture_output=True, text=True, check=True).stdout
    assert json.loads(loaded) == []


def test_a_configuration_without_the_declaration_or_in_another_form_is_read_with_the_model(tmp_path: Path) -> None:
    attributes = synchronization(tmp_path, conflict_policy="overwrite")
    expected = pipeline_for(attributes, "id-1", kept(attributes, tmp_path)).spec
    assert pipeline_for(attributes, "id-1", None).spec == expected
    stale = {"format": DECLARATION_FORMAT + 1, "conflict_policy": "fail"}  # a form this dtsctl does not read
    assert pipeline_for(attributes, "id-1", stale).spec == expected


def test_attributes_the_model_refuses_are_kept_without_a_declaration_and_refused_when_the_agent_runs(
        tmp_path: Path) -> None:
    attributes = synchronization(tmp_path, conflict_policy="sometimes")
    agent = Agent(RuntimePaths(tmp_path / "runtime"), "task.bad")
    agent.write_config("id-1", attributes, [])
    assert "declared" not in agent.config()
    with pytest.raises(DtsError, match="recorded configuration is not valid"):
        pipeline_for(attributes, "id-1", agent.config().get("declared"))
    with pytest.raises(DtsError, match="recorded configuration is not valid"):
        declaration(attributes)
