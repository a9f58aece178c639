"""The HTTP service over :mod:`mtrec.serving`: the FastAPI app (``app``), the ZenML registry as
a model source (``registry``) and the uvicorn server (``server``). Thin: the scoring, the
request types and the model swap are library code."""
