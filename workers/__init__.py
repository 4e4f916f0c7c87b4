"""The Celery app, its tasks and the beat schedule. Never imports Flask.

Importing any task module creates the app first, so `shared_task`s bind to it (and its
broker) whether the importer is a worker, the web enqueuing, or a test.
"""
from . import celery_app as _celery_app  # noqa: F401
