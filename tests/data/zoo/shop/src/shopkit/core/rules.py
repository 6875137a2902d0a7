class CategoryRules:
    def __init__(self, categories):
        self.categories = list(categories)
