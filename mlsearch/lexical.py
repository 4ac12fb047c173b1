"""Lexical matching features: TF-IDF n-grams of query and title into a logistic regression.

The model of the ``tfidf`` baseline (mlsearch.baselines) and of the benchmark's difficulty probe
(mlsearch.data.benchmark), kept below both. Hand-made lexical features belong here and in the
baselines only, never in the method's input or classifier.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def tfidf_scores(train: pd.DataFrame, others: list[pd.DataFrame], seed: int = 0) -> tuple[list[np.ndarray], int]:
    """Fit TF-IDF + logistic regression on ``train``; match probabilities of each frame of ``others``.

    Returns ``(scores per frame, number of fitted coefficients)``. The vectorizers see training
    queries and titles only.
    """
    import scipy.sparse as sp
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_union

    vec = make_union(
        TfidfVectorizer(analyzer="word", ngram_range=(1, 2), sublinear_tf=True),
        TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True),
    )
    vec.fit(pd.concat([train["query"], train["title"]]).astype(str))
    n_word = len(vec.transformer_list[0][1].vocabulary_)

    def feats(df: pd.DataFrame):
        q, t = vec.transform(df["query"].astype(str)), vec.transform(df["title"].astype(str))
        qt = q.multiply(t).tocsr()  # interaction: weight of the terms query and title share
        cos = np.column_stack([qt[:, :n_word].sum(1).A1, qt[:, n_word:].sum(1).A1])  # word and char cosines
        return sp.hstack([q, t, qt, sp.csr_matrix(cos * 4.0)]).tocsr()

    clf = LogisticRegression(C=4.0, max_iter=2000, random_state=seed)
    clf.fit(feats(train), train["label"].to_numpy())
    n_params = int(clf.coef_.size + clf.intercept_.size)
    return [clf.predict_proba(feats(df))[:, 1].astype(np.float64) for df in others], n_params
