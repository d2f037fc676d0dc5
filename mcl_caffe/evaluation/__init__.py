"""Evaluation of trained models: test-set metrics, the left-eye occlusion (Table VII), the weight
perturbation (Fig. 7), the validation-versus-test breakdown, and model-free data checks."""
