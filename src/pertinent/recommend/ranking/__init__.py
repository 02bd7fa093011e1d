"""Learning to rank over time-aware candidates: generators (``candidates``), features (``features``), labels
held out of the training data (``labels``), the LambdaRank recommender (``ranker``) and its explanations
(``explain``). The kind is ``ranker``: ``make_model("ranker")``."""
