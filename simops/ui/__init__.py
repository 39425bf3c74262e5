"""The campaign dashboard in the browser (`simops ui`, also started by `simops dev`)."""
