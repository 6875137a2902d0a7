"""shopkit: colour and category rules for the zoo's recommender."""
