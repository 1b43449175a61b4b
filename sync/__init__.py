"""The sync service: offline crew mutations applied exactly once and merged by the rules of the job.

The protocol, for the crew app (all three endpoints need a signed-in lineman; their crew is the staff
member's `crew_id`):

- `POST /sync/push` (JSON, with the `x-csrftoken` header read from the `fl_csrf` cookie)
  `{"client_id": uuid, "mutations": [{"id", "name", "args", "client_time", "base_rev"}]}` — ids count 1, 2, 3…
  per client_id, oldest first, at most 1,000 and 4 MB per batch, at most 64 KB per mutation (sync/mutations.py
  has every name and its args). A mutation larger than that is sent as its envelope and size,
  `{"id", "name", "client_time", "too_large": <bytes>}`, and answered `rejected` (`too_large`) like one sent whole.
  Each answer is `{"id", "status", "reason", "message", "details"}` with status:
    `applied` / `rejected` / `conflict` — final: drop the mutation from the outbox (show `message`);
    `pending` — an earlier id has not arrived: keep it, and send again from `details.expected`.
  A mutation holding what the server cannot keep (a lone surrogate, NUL, a number not finite or past 64 bits,
  nesting deeper than 16) is `rejected` (`unstorable`) alone; one on a job that was never the crew's is
  `rejected` (`not_crews_job`) and nothing of it is stored. Ids already taken are answered again from the
  record, exactly as the first time. Retry the same batch only on a network error, a 408/429 or a 5xx (the
  server has already retried a deadlock); 413 (`max_bytes`, `max_mutation_bytes` in the body) means send less
  at a time; any other 4xx means the app is wrong: say so, keep the outbox, and do not send it again by itself.
- `GET /sync/pull?cursor=…&client_id=…` → `{"cursor", "reset", "last_mutation_id", "ops"}`. On `reset`, clear
  the local jobs first. Each op is `{"op": "put", "key": "incident/<id>", "value": job}` or `{"op": "del",
  "key", "why": "reassigned" | "cancelled" | "closed", "code"}`. Outbox mutations with an id at or below
  `last_mutation_id` were taken, but their answers were not heard: push them again to hear their answers (a
  refusal or a conflict the lineman must read) rather than dropping them. Keep the cursor for the next pull.
- `GET /sync/poke` (EventSource) — an event `poke` means "pull now"; one comes on every (re)connect.
- `PUT /sync/photos/<photo_id>` — the file of a `photo` mutation (same id; either may arrive first): the raw
  bytes as the body, `Content-Type: image/jpeg | image/png | image/webp`, at most 8 MB, with `x-csrftoken`.
  201 stored, 200 stored before (a retry: nothing changed) — both final, with `{"photo_id", "new", "bytes",
  "width", "height", "taken_at", "latitude", "longitude", "url", "thumb_url"}`. 400 bad id, 409 id used by
  another crew or its mutation refused as another crew's job, 413 too large, 415 wrong Content-Type, 422 not a
  picture: final, tell the lineman (`detail`).
  Retry on a network error or a 5xx. Staff read them at `GET /photos/<id>.jpg` and `/photos/<id>/thumb.jpg`.
"""
