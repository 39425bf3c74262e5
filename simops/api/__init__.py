"""The JSON API (`simops serve`): campaigns and migrations started, steered and reported over
HTTP, described by an OpenAPI document generated from the same pydantic models the CLI builds."""
