"""The sequences the command line and the pipelines share, above training, evaluation, reports
and the registry logic: what a finished run reports (``runs``) and the retraining cycle behind a
small registry interface (``retraining``). Never imports zenml: the ZenML side implements the
interfaces (``mtrec_cli``)."""
