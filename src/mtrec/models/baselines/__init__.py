"""Non-neural and single-task baselines scored on the same split and evaluator as the model."""
