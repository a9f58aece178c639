"""The project's ZenML pipelines. Importing any of them registers quiet versions of ZenML's
integrations they do not use (:mod:`pipelines.integrations`)."""

from pipelines.integrations import quiet_unused_integrations

quiet_unused_integrations()
