"""What every site app may import: the domain errors, the view helpers and the CSV writer.

At the bottom of the layers (`pyproject.toml`, import-linter): it imports no site app, so `accounts`,
`challenge`, `leaderboard`, `workers` and `config` can all use it without an upward import.
"""
