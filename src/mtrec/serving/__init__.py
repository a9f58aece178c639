"""Online recommendations: the request and answer of the HTTP service (:mod:`.api`) and the
served model held in memory and swapped when production changes (:mod:`.slot`). Pure library
code: the web layer and the ZenML model source live in the top-level ``serving`` package."""
