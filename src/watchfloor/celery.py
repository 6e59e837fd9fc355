"""The Celery app for production workers and beat: `watchfloor worker`, `watchfloor beat`
(or `celery -A watchfloor.celery worker|beat`). Needs REDIS_URL (the broker).

Beat's schedule is built from the one table of periodic jobs (`watchfloor.jobs.schedule`): each
entry sends the generic task `watchfloor.jobs.run_job` with the job's name, and the job's lease
(`jobs.runtime`) keeps it to one run at a time even with two beats. Enqueued tasks travel as
`watchfloor.jobs.run_task` with a dotted path and primary keys (`jobs.runtime.enqueue`).
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "watchfloor.settings")

app = Celery("watchfloor")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["watchfloor.jobs"])


def beat_schedule() -> dict:
    """Celery beat's entries, one per periodic job; a message older than one interval expires
    (a worker that was down does not run a backlog of the same job)."""
    from watchfloor.jobs.runtime import CELERY_RUN_JOB
    from watchfloor.jobs.schedule import schedule

    return {
        job.name: {
            "task": CELERY_RUN_JOB,
            "schedule": job.every.total_seconds(),
            "args": (job.name,),
            "options": {"expires": job.every.total_seconds()},
        }
        for job in schedule()
    }


@app.on_after_configure.connect
def _install_beat_schedule(sender, **kwargs):
    sender.conf.beat_schedule = beat_schedule()
