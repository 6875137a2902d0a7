"""Rule-based parts of the recommender: colour, gender, category compatibility and ranking."""
