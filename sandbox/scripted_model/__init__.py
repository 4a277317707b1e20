"""The scripted OpenAI-compatible model server: tests use it, and `make demo` runs it as the offline model."""

from sandbox.scripted_model.script import ChatTurn, ResponsesTurn, Script, load_script
from sandbox.scripted_model.server import ScriptedModelServer, ScriptedRequest

__all__ = ["ChatTurn", "ResponsesTurn", "Script", "ScriptedModelServer", "ScriptedRequest", "load_script"]
