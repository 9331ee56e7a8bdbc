"""The board cache, whole: how leaderboards stay cheap to read while results pour in.

- `versions`: each phase's board version and the catalog version, in the shared board cache; a bump
  after a write's commit is the whole invalidation.
- `phases`: the phase a board's URL names, kept by each process under the catalog version.
- `receivers`: what bumps the versions: challenge's events (`challenge.events`), Django's model
  signals for writes past the services, the end of a migration.
- `responses`: the cached rows and rendered responses, ETag and Cache-Control.

Challenge only announces its writes; nothing below leaderboard imports this package. The design and
its guarantees: `docs/leaderboard-cache.md`.
"""
