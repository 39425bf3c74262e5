"""Temporal activities: thin `@activity.defn` wrappers over `simops.campaigns` and
`simops.supersim`.
"""
