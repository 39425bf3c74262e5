"""Campaign events for webhooks: built as CloudEvents, signed as Standard Webhooks say, with no
Temporal in sight (the notifier workflow and its activities are the Temporal side)."""
