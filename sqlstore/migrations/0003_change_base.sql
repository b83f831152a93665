-- The version a write replaced, for hot/hot conflict detection:
-- "<origin>@<time>" of the resource's previous write, or '' when it was new
-- or the pair is not hot/hot.
ALTER TABLE changes ADD COLUMN base TEXT NOT NULL DEFAULT '';
