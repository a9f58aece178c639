"""The project's ZenML pipelines. Importing any of them registers quiet versions of ZenML's
integrations they do not use: importing :mod:`pipelines.integrations` defines them, which
registers them."""

import pipelines.integrations  # noqa: F401
