from etl.quality.validate import Outcome, ValidationResult, Validator

__all__ = ["Outcome", "ValidationResult", "Validator"]
