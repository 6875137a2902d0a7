"""StyGig: a small fashion recommender (image embeddings + FAISS + colour, gender and category rules)."""

__version__ = "0.1.0"
