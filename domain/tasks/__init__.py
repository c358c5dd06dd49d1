"""Tasks: a tool call accepted now and run later (`?mode=async`), recorded as events."""
