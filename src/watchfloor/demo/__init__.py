"""The demo: an estate (`data`), its alerts (`alerts`), paging (`paging`), a traffic simulator
(`simulator`), local notification sinks (`sinks`) and the `watchfloor demo` command."""
