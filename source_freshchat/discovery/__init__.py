"""Where conversations and messages find their conversations: the walk of every user, or the change feed.

The walk (`ParentWalk`) lists every user's conversations: complete, but it costs a request per user and per
conversation on every sync. The change feed asks the Extract API which conversations events touched in a window
(created, assigned, resolved, a message sent) and fetches only those. What events cannot show (a property edited
alone; user messages where Chat-Transcript is refused) is caught by the rolling walk (`rolling.py`): each feed sync
also walks a slice of the users, so that every user is walked at least once per `full_walk_interval_days`.

The choice is made once per sync for both streams, from their states, and logged with its reason:
- a full refresh, a first sync, an interrupted full walk to resume, a state from before the rolling walk, or a last
  sync older than the Extract API's reach all walk;
- `walk` always walks; `extract` follows the feed and fails loudly when the Extract API cannot serve it;
- `auto` follows the feed when the last full walk cost more than a feed sync would (see AUTO_MIN_WALK_REQUESTS),
  and walks for this sync, with one warning, when the Extract API is missing, refuses an event, or never finishes.
"""
