"""The openai backend against the contract kit, over real HTTP to the scripted server."""

from __future__ import annotations

from typing import Any

from hooklab.testing import ScriptedOpenAIServer
from hooklab.testing.contracts import BackendContract


class TestOpenAIBackendContract(BackendContract):
    name = "openai"

    def setup_method(self) -> None:
        # Answers JSON when asked for JSON, else text: enough for every contract check.
        def respond(request: dict[str, Any], index: int) -> str:
            wants_json = (request.get("response_format") or {}).get("type") in {"json_object", "json_schema"}
            return '{"ok": true}' if wants_json else f"hello {index}"

        self.server = ScriptedOpenAIServer(responder=respond).start()
        self.options = {"model": "scripted", "base_url": self.server.base_url}

    def teardown_method(self) -> None:
        self.server.stop()
