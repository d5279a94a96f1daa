"""The generated language of the closing chapter: grammar, n-gram baselines, the softmax output layer."""

import itertools
import math

import autograd.numpy as anp
import numpy as np
import pytest
from autograd import grad

from nnlib import gradcheck, language, recurrent


def _noun_phrases(number):
    adjectives = [[]] + [[a] for a in language.ADJECTIVES]
    return [[d] + a + [n] for d in language.DETERMINERS[number] for a in adjectives
            for n in language.NOUNS[number]]


def _every_sentence():
    for number in ("sg", "pl"):
        phrases = [[]] + [[p] + np_ for p in language.PREPOSITIONS for inner in ("sg", "pl")
                          for np_ in _noun_phrases(inner)]
        verbs = language.VERBS[number]
        for subject, phrase, verb in itertools.product(_noun_phrases(number), phrases, verbs):
            yield subject + phrase + [verb]


def test_the_grammar_is_a_probability_distribution_over_its_sentences():
    sentences = list(_every_sentence())
    assert len({tuple(s) for s in sentences}) == len(sentences)       # one derivation each
    total = sum(math.exp(language.sentence_log_prob(s)) for s in sentences)
    assert total == pytest.approx(1.0, abs=1e-12)


def test_generated_sentences_are_grammatical_and_frequencies_match():
    sentences = language.generate_sentences(4000, seed=3)
    assert all(language.is_grammatical(s) for s in sentences)
    with_phrase = np.mean([any(w in language.PREPOSITIONS for w in s) for s in sentences])
    assert with_phrase == pytest.approx(language.P_PHRASE, abs=0.03)
    assert language.generate_sentences(5, seed=3) == sentences[:5]


@pytest.mark.parametrize("words", [
    "the dog run", "the dogs runs", "a dogs run", "the dog near the cats run", "the dog near runs",
    "the dog", "dog runs", "the dog runs runs", "the big small dog runs"])
def test_ungrammatical_sentences_are_rejected(words):
    assert not language.is_grammatical(words.split())
    assert language.sentence_log_prob(words.split()) is None


def test_encode_shifts_targets_by_one_and_masks_the_padding():
    vocab = language.vocabulary([["the", "dog", "runs"], ["the", "dogs", "near", "a", "cat", "run"]])
    inputs, targets, mask = language.encode([["the", "dog", "runs"], ["the", "dogs", "run"]], vocab)
    assert inputs.shape == targets.shape == mask.shape == (2, 4)
    words = np.array(vocab)
    assert list(words[inputs[0]]) == ["<s>", "the", "dog", "runs"]
    assert list(words[targets[0]]) == ["the", "dog", "runs", "</s>"]
    assert (inputs[:, 1:] == targets[:, :-1]).all()
    assert mask.sum() == 8


@pytest.mark.parametrize("order", [1, 2, 3])
def test_ngram_next_word_probabilities_sum_to_one(order):
    train = language.generate_sentences(300, seed=0)
    vocab = language.vocabulary(train)
    model = language.NGram(train, vocab, order=order)
    for prefix in ([], ["the"], ["the", "dog", "near"], ["near", "near"]):          # the last one unseen
        total = sum(model.next_word_prob(prefix, w) for w in vocab if w != language.BOS)
        assert total == pytest.approx(1.0)
    total, n = model.log_prob(train[:3])
    assert n == sum(len(s) + 1 for s in train[:3])
    assert total == pytest.approx(sum(math.log(model.next_word_prob(s[:i], w))
                                      for s in train[:3] for i, w in enumerate(s + [language.EOS])))


def test_perplexity_of_a_uniform_choice_is_its_size():
    assert language.perplexity(10 * math.log(1 / 7), 10) == pytest.approx(7.0)
    test = language.generate_sentences(50, seed=1)
    assert language.grammar_perplexity(test) == pytest.approx(
        math.exp(-sum(language.sentence_log_prob(s) for s in test) / sum(len(s) + 1 for s in test)))


def _case(seed):
    rng = np.random.default_rng(seed)
    N, T, Hn, V = 3, 4, 5, 6
    H = np.tanh(rng.standard_normal((N, T, Hn)))
    W_s, b_s = rng.standard_normal((V, Hn)), rng.standard_normal(V)
    targets = rng.integers(0, V, size=(N, T))
    mask = (rng.random((N, T)) < 0.7).astype(float)
    mask[0, 0] = 1.0
    return H, W_s, b_s, targets, mask


def _autograd_loss(H, W_s, b_s, targets, mask):
    S = anp.dot(H, W_s.T) + b_s
    logp = S - anp.log(anp.sum(anp.exp(S), axis=-1, keepdims=True))
    picked = anp.sum(logp * np.eye(W_s.shape[0])[targets], axis=-1)
    return -anp.sum(picked * mask) / anp.sum(mask)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_softmax_output_gradients_match_autograd_and_numerical(seed):
    H, W_s, b_s, targets, mask = _case(seed)
    loss, dH, dW_s, db_s = language.softmax_output(H, W_s, b_s, targets, mask)
    assert loss == pytest.approx(_autograd_loss(H, W_s, b_s, targets, mask))
    for i, (value, ours) in enumerate(((H, dH), (W_s, dW_s), (b_s, db_s))):
        want = grad(_autograd_loss, i)(H, W_s, b_s, targets, mask)
        assert gradcheck.relative_error(ours, want) < 1e-8
        numeric = gradcheck.numerical_gradient(
            lambda _: language.softmax_output(H, W_s, b_s, targets, mask)[0], value)
        assert np.allclose(ours, numeric, rtol=1e-5, atol=1e-8)
    assert np.all(dH[mask == 0] == 0)                              # padding sends nothing back


def test_rnn_lm_log_prob_is_the_sum_of_next_word_log_probabilities():
    train = language.generate_sentences(20, seed=0)
    vocab = language.vocabulary(train)
    params = language.init_rnn_lm(len(vocab), 4, seed=1)
    total, n = language.rnn_lm_log_prob(params, train[:3], vocab)
    by_word = sum(math.log(language.rnn_lm_next_word_probs(params, vocab, s[:i])[vocab.index(w)])
                  for s in train[:3] for i, w in enumerate(s + [language.EOS]))
    assert n == sum(len(s) + 1 for s in train[:3])
    assert total == pytest.approx(by_word)
    # the one-hot forward of recurrent.rnn_forward is the column lookup of the sampler
    inputs, _, _ = language.encode(train[:1], vocab)
    H, _ = recurrent.rnn_forward(language.one_hot(inputs, len(vocab)), np.zeros((1, 4)),
                                 params["W_xh"], params["W_hh"], params["b"])
    h = np.zeros(4)
    for word in inputs[0, :2]:
        h = np.tanh(params["W_xh"][:, word] + params["W_hh"] @ h + params["b"])
    assert np.allclose(H[0, 1], h)


def test_sampling_is_seeded_and_stops():
    vocab = language.vocabulary(language.generate_sentences(50, seed=0))
    params = language.init_rnn_lm(len(vocab), 4, seed=0)
    a = [language.sample_rnn_lm(params, vocab, np.random.default_rng(5), max_words=6) for _ in range(3)]
    b = [language.sample_rnn_lm(params, vocab, np.random.default_rng(5), max_words=6) for _ in range(3)]
    assert a == b
    assert all(len(s) <= 7 and language.BOS not in s and language.EOS not in s for s in a)


def test_agreement_cases_pair_each_verb_with_its_other_number():
    cases = language.agreement_cases([["the", "dog", "near", "the", "cats", "sleeps"],
                                      ["the", "dogs", "near", "the", "cats", "sleep"],
                                      ["a", "cat", "runs"]])
    assert cases == [(["the", "dog", "near", "the", "cats"], "sleeps", "sleep")]
