"""The run manager: background runs, bounded event logs, live control, limits.

``RunManager`` is the interface the web layer depends on;
``InProcessRunManager`` its implementation with runs as threads of this process.
"""

from server.runs.events import EventLog, LoggedEvent, to_json
from server.runs.manager import CapacityExceeded, InProcessRunManager, RunManager, UnknownRun
from server.runs.run import ACTIONS, RunConflict

__all__ = ["ACTIONS", "CapacityExceeded", "EventLog", "InProcessRunManager", "LoggedEvent", "RunConflict",
           "RunManager", "UnknownRun", "to_json"]
