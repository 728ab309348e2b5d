"""The outbox: claim due texts per sender (GCRA pacing, conversation lane first), send, reconcile, finish.

Every step is a short transaction. A claim marks a row `sending` with a fresh attempt id and a lease
and advances the sender's next slots in the same transaction, so two dispatchers never take the same
row and a sender's slots never overlap. A send whose outcome is unknown (timeout, 5xx, crash) is put
`in_doubt` and later looked up in the provider's Messages list (or settled by the status callback
naming it); only when the provider has no such message is it queued again.

Where things are:

- `pacing`: the claim and the pace arithmetic (the article's one alert text per 12 s; 10 people take
  about 2 minutes), sender rows;
- `rows`: alert texts and staff replies behind one typed interface (`TextRow`, `TextTable`);
- `sending`: one claimed text to Twilio and back;
- `reconcile`: texts in doubt looked up at Twilio, and polling without status callbacks;
- `callbacks` / `status`: Twilio status callbacks and Twilio's statuses mapped to ours;
- `finalize`: progress notices, the report and the completion notice;
- `lock`: the single-dispatcher rule on SQLite;
- `dispatcher`: `Dispatcher`, the front the scheduler calls.
"""

from services.delivery.callbacks import apply_status_callback
from services.delivery.dispatcher import Dispatcher
from services.delivery.jobs import ACTIVE, NOT_FINAL_HANDED, DispatchConfig, Job, JobKind
from services.delivery.lock import acquire_dispatcher, heartbeat, instance_name, release_dispatcher
from services.delivery.pacing import IDLE_SLOT, ensure_sender, wake_sender
from services.delivery.status import IN_FLIGHT, is_forward, provider_status

__all__ = [
    "ACTIVE",
    "IDLE_SLOT",
    "IN_FLIGHT",
    "NOT_FINAL_HANDED",
    "DispatchConfig",
    "Dispatcher",
    "Job",
    "JobKind",
    "acquire_dispatcher",
    "apply_status_callback",
    "ensure_sender",
    "heartbeat",
    "instance_name",
    "is_forward",
    "provider_status",
    "release_dispatcher",
    "wake_sender",
]
