"""Encoders, pooling, the shared Hadamard classifier, losses, tokenizers."""

import torch

from mlsearch import losses
from mlsearch.config import load_config, profile_files
from mlsearch.model import MatchModel
from mlsearch.text import encode, train_tokenizer

torch.set_num_threads(1)


def _model(**over):
    cfg = load_config(profile_files("tiny"), {"model.dropout": 0.0} | over)
    torch.manual_seed(0)
    return MatchModel(cfg.model, {"en": 50, "de": 60}).eval()


def test_shapes_and_padding_does_not_change_pooled_vector():
    for pooling in ("mean", "cls"):
        m = _model(**{"model.pooling": pooling})
        ids = torch.tensor([[2, 5, 7, 9], [2, 11, 0, 0]])
        out = m.encode("en", "query", ids)
        assert out.shape == (2, m.cfg.proj_dim)
        padded = torch.cat([ids, torch.zeros(2, 5, dtype=torch.long)], dim=1)
        assert torch.allclose(m.encode("en", "query", padded), out, atol=1e-5)
        short = m.encode("en", "query", ids[1:, :2])
        assert torch.allclose(short[0], out[1], atol=1e-5)
    assert m(lang="de", query_ids=ids, title_ids=ids).shape == (2,)


def test_per_language_encoders_differ_and_shared_encoders_are_one():
    m = _model()
    assert set(m.query) == {"de", "en"} and m.query["en"] is not m.query["de"]
    s = _model(**{"model.encoders": "shared", "model.shared_vocab": True})
    assert s.key("en") == s.key("de") == "shared"


def test_classifier_first_layer_is_hadamard():
    m = _model()
    q, t = torch.randn(3, m.cfg.proj_dim), torch.randn(3, m.cfg.proj_dim)
    first = m.classifier.mlp[0]
    expected = torch.relu(first(q * t))
    got = m.classifier.mlp[1](first(m.classifier.features(q, t)))
    assert torch.allclose(got, expected)
    # the paper's classifier and the dot-product path: the logit depends on q ⊙ t only
    for sim in ("none", "dot"):
        s = _model(**{"model.similarity": sim})
        assert torch.allclose(s.classifier(q, t), s.classifier(q * t, torch.ones_like(t)), atol=1e-6), sim
    # the cosine path adds w · Σ(q̂ ⊙ t̂) to the MLP's logit
    cos = torch.nn.functional.cosine_similarity(q, t, dim=-1)
    mlp = m.classifier.mlp(q * t).squeeze(-1)
    assert m.cfg.similarity == "cosine"
    assert torch.allclose(m.classifier(q, t), mlp + m.classifier.sim_weight * cos, atol=1e-5)
    c = _model(**{"model.combine": "concat"})
    assert c.classifier.mlp[0].in_features == 2 * c.cfg.proj_dim
    assert not torch.allclose(c.classifier(q, t), c.classifier(q * t, torch.ones_like(t)))


def test_alignment_losses():
    a = torch.randn(8, 4)
    assert set(losses.ALIGNMENT) == {"contrastive", "l2", "cosine"}
    for name, objective in losses.ALIGNMENT.items():
        same, opposite = (float(objective.loss(a, b, len(a), 0.1)) for b in (a, -a))
        assert same < opposite and opposite > 0.5, name
        if objective.sharded is None:  # a distance of mapped pairs: zero when they coincide
            assert same < 1e-6, name
    assert float(losses.contrastive_alignment(a, a, 0.1)) < float(losses.contrastive_alignment(a, a.roll(1, 0), 0.1))
    assert abs(float(losses.cosine_alignment(torch.tensor([[1.0, 0]]), torch.tensor([[0.0, 3]]))) - 1.0) < 1e-6


def test_alignment_step_reduces_distance():
    m = _model()
    m.train()
    ids_a, ids_b = torch.randint(3, 50, (16, 5)), torch.randint(3, 60, (16, 5))
    opt = torch.optim.AdamW(m.parameters(), lr=1e-2)

    @torch.no_grad()
    def dist():
        return float(losses.cosine_alignment(m.encode("en", "title", ids_a), m.encode("de", "title", ids_b)))

    before = dist()
    for _ in range(30):
        opt.zero_grad()
        losses.cosine_alignment(m.encode("en", "title", ids_a), m.encode("de", "title", ids_b)).backward()
        opt.step()
    assert dist() < 0.5 * before


def test_tokenizer_handles_japanese_without_spaces_and_pads():
    ja = ["赤いスニーカー", "スニーカー メンズ", "がっこうのかばん", "青いかばん"] * 3
    tok = train_tokenizer(ja, 200, strip_accents=False)
    enc = tok.encode("赤いかばん")
    assert "[UNK]" not in enc.tokens and len(enc.tokens) >= 3  # [CLS] + several pieces
    assert "が" in "".join(tok.encode("がっこう").tokens)  # voicing mark kept
    ids = encode(tok, ["赤い", "スニーカー メンズ"], max_len=4)
    assert ids.shape[1] <= 4 and (ids[:, 0] == tok.token_to_id("[CLS]")).all()
    en = train_tokenizer(["Café crème", "red shoes"], 100)
    assert en.encode("CAFE").tokens == en.encode("café").tokens  # lowercased, accents stripped
