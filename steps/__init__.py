# Registers the project's materializers (data frames included) for every step.
import steps.materializers  # noqa: F401
