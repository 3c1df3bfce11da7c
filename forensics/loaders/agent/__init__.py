"""Agent-action formats (family `agent`, table `agent_actions`).

One module per format group: `sweagent` (SWE-agent .traj), `openhands` (OpenHands event
streams) and `jsonl` (our own forensics-agent-jsonl, documented in docs/agent_jsonl.md).
"""

from forensics.loaders.agent.jsonl import AgentJsonl
from forensics.loaders.agent.openhands import OpenHandsEvents
from forensics.loaders.agent.sweagent import SweAgentTrajectory

__all__ = ["AgentJsonl", "OpenHandsEvents", "SweAgentTrajectory"]
