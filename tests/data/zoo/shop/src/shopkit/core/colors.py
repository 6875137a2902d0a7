try:
    from .rules import CategoryRules
except ImportError:  # run as a script from inside the package folder
    from rules import CategoryRules


class ColorProcessor:
    def __init__(self, settings):
        self.rules = CategoryRules(settings.get("categories", []))

    def score(self, a, b):
        return 1.0 if a == b else 0.5
