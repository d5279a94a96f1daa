"""A tiny language to model, for the closing chapter: a seeded grammar, n-gram baselines, perplexity.

The grammar makes English-like sentences in which the verb agrees in number with a subject that
may sit several words back, behind a prepositional phrase::

    the old dog near the cats sleeps          the birds with a cat sing

A model that sees only the last word or two ("the cats") cannot tell ``sleeps`` from ``sleep``;
a recurrent state can carry the subject's number across the gap. Every sentence has exactly one
derivation, so the grammar gives each sentence its exact probability: the best perplexity any
model can reach.

Sentences are lists of words without markers. A language model reads ``<s> w_1 ... w_n`` and
predicts ``w_1 ... w_n </s>``; the vocabulary lists ``<s>`` and ``</s>`` first.
"""

import math
from collections import Counter

import numpy as np

from . import losses, recurrent

BOS, EOS = "<s>", "</s>"
NOUNS = {"sg": ("dog", "cat", "bird"), "pl": ("dogs", "cats", "birds")}
VERBS = {"sg": ("runs", "sleeps", "sings"), "pl": ("run", "sleep", "sing")}
DETERMINERS = {"sg": ("the", "a"), "pl": ("the",)}
ADJECTIVES = ("small", "big")
PREPOSITIONS = ("near", "with")
P_ADJECTIVE = 0.3        # an adjective before a noun
P_PHRASE = 0.5           # a prepositional phrase after the subject


def _noun_phrase(rng, number):
    words = [DETERMINERS[number][rng.integers(len(DETERMINERS[number]))]]
    if rng.random() < P_ADJECTIVE:
        words.append(ADJECTIVES[rng.integers(len(ADJECTIVES))])
    words.append(NOUNS[number][rng.integers(3)])
    return words


def generate_sentences(n, seed=0):
    """``n`` sentences (lists of words) drawn from the grammar with ``np.random.default_rng(seed)``."""
    rng = np.random.default_rng(seed)
    sentences = []
    for _ in range(n):
        number = ("sg", "pl")[rng.integers(2)]
        words = _noun_phrase(rng, number)
        if rng.random() < P_PHRASE:
            words.append(PREPOSITIONS[rng.integers(2)])
            words += _noun_phrase(rng, ("sg", "pl")[rng.integers(2)])
        words.append(VERBS[number][rng.integers(3)])
        sentences.append(words)
    return sentences


def _parse_noun_phrase(words, i):
    """(number, log probability, next index) of a noun phrase starting at ``words[i]``, or None."""
    for number in ("sg", "pl"):
        dets = DETERMINERS[number]
        j, logp = i, 0.0
        if j >= len(words) or words[j] not in dets:
            continue
        logp += math.log(1 / len(dets))
        j += 1
        if j < len(words) and words[j] in ADJECTIVES:
            logp += math.log(P_ADJECTIVE / len(ADJECTIVES))
            j += 1
        else:
            logp += math.log(1 - P_ADJECTIVE)
        if j < len(words) and words[j] in NOUNS[number]:
            return number, logp + math.log(1 / 3), j + 1
    return None


def sentence_log_prob(words):
    """Natural log of the probability the grammar gives the sentence, or None if it cannot make it."""
    words = list(words)
    subject = _parse_noun_phrase(words, 0)
    if subject is None:
        return None
    number, logp, i = subject
    logp += math.log(1 / 2)                               # singular or plural subject
    if i < len(words) and words[i] in PREPOSITIONS:
        inner = _parse_noun_phrase(words, i + 1)
        if inner is None:
            return None
        logp += math.log(P_PHRASE / 2) + math.log(1 / 2) + inner[1]
        i = inner[2]
    else:
        logp += math.log(1 - P_PHRASE)
    if i == len(words) - 1 and words[i] in VERBS[number]:
        return logp + math.log(1 / 3)
    return None


def is_grammatical(words):
    """True if the grammar can make the sentence (every verb agrees with its subject)."""
    return sentence_log_prob(words) is not None


def vocabulary(sentences):
    """Sorted word list with ``<s>`` and ``</s>`` first; its index is the word's id."""
    return [BOS, EOS] + sorted({w for s in sentences for w in s})


def encode(sentences, vocab):
    """Inputs (N, T) and targets (N, T) as word ids, and a mask (N, T) of the real positions.

    Row i reads ``<s> w_1 ... w_n`` and must predict ``w_1 ... w_n </s>``; T is the longest
    sentence plus one and shorter rows are padded with ``</s>`` under a mask of 0.
    """
    index = {w: i for i, w in enumerate(vocab)}
    T = max(len(s) for s in sentences) + 1
    inputs = np.full((len(sentences), T), index[EOS])
    targets = np.full((len(sentences), T), index[EOS])
    mask = np.zeros((len(sentences), T))
    for row, s in enumerate(sentences):
        ids = [index[w] for w in s]
        inputs[row, :len(ids) + 1] = [index[BOS]] + ids
        targets[row, :len(ids) + 1] = ids + [index[EOS]]
        mask[row, :len(ids) + 1] = 1.0
    return inputs, targets, mask


def perplexity(total_log_prob, n_predictions):
    """exp(−(1/n) Σ log p): the size of a uniform choice that is as uncertain as the model."""
    return float(np.exp(-total_log_prob / n_predictions))


def grammar_perplexity(sentences):
    """Perplexity of the grammar itself on ``sentences`` (each sentence's ``</s>`` counted)."""
    total = sum(sentence_log_prob(s) for s in sentences)
    return perplexity(total, sum(len(s) + 1 for s in sentences))


class NGram:
    """Count model of the next word given the previous ``order − 1`` words, add-``k`` smoothed.

    ``order = 2`` is a bigram; its window of context is one word, the last one read.
    """

    def __init__(self, sentences, vocab, order=2, k=0.1):
        self.order, self.k, self.vocab = order, k, list(vocab)
        self.counts, self.totals = Counter(), Counter()
        for s in sentences:
            for context, word in self._events(s):
                self.counts[context, word] += 1
                self.totals[context] += 1

    def _events(self, words):
        padded = [BOS] * (self.order - 1) + list(words) + [EOS]
        for i in range(self.order - 1, len(padded)):
            yield tuple(padded[i - self.order + 1:i]), padded[i]

    def prob(self, context, word):
        """p(word | the last order − 1 words), with add-k smoothing over the vocabulary."""
        return ((self.counts[context, word] + self.k)
                / (self.totals[context] + self.k * (len(self.vocab) - 1)))   # <s> is never predicted

    def next_word_prob(self, prefix, word):
        """p(word | a sentence that starts with ``prefix``): only its last order − 1 words count."""
        padded = [BOS] * (self.order - 1) + list(prefix)
        return self.prob(tuple(padded[len(padded) - self.order + 1:]), word)

    def log_prob(self, sentences):
        """(Σ log p over every predicted word and ``</s>``, number of predictions)."""
        total, n = 0.0, 0
        for s in sentences:
            for context, word in self._events(s):
                total += math.log(self.prob(context, word))
                n += 1
        return total, n


def init_rnn_lm(vocab_size, n_hidden, seed=0):
    """Parameters of a one-hot-input tanh RNN language model: W_xh (H, V), W_hh (H, H), b (H,),
    W_s (V, H), b_s (V,), small Gaussian weights."""
    rng = np.random.default_rng(seed)
    return {"W_xh": rng.standard_normal((n_hidden, vocab_size)) * 0.5,
            "W_hh": rng.standard_normal((n_hidden, n_hidden)) / np.sqrt(n_hidden) * 0.5,
            "b": np.zeros(n_hidden),
            "W_s": rng.standard_normal((vocab_size, n_hidden)) / np.sqrt(n_hidden),
            "b_s": np.zeros(vocab_size)}


def one_hot(ids, vocab_size):
    """(…, V) rows of the identity for an integer array of word ids: x_t for a one-hot RNN."""
    return np.eye(vocab_size)[ids]


def softmax_output(H, W_s, b_s, targets, mask):
    """Mean cross-entropy of the next words, and its gradients.

    H (N, T, H) states, W_s (V, H), b_s (V,), targets (N, T) ids, mask (N, T) of 0/1.
    Scores s_t = W_s h_t + b_s, ŷ_t = softmax(s_t); the loss averages −log ŷ_t[target] over the
    masked positions. Returns (loss, dH (N, T, H), dW_s, db_s); ∂J/∂s_t = (ŷ_t − y_t) m_t / Σm.
    """
    S = H @ W_s.T + b_s
    P = losses.softmax(S.reshape(-1, S.shape[-1])).reshape(S.shape)
    count = mask.sum()
    picked = np.take_along_axis(P, targets[..., None], axis=-1)[..., 0]
    loss = float(-(np.log(picked) * mask).sum() / count)
    dS = P.copy()
    np.put_along_axis(dS, targets[..., None], picked[..., None] - 1.0, axis=-1)
    dS *= (mask / count)[..., None]
    return loss, dS @ W_s, np.einsum("ntv,nth->vh", dS, H), dS.sum(axis=(0, 1))


def rnn_lm_log_prob(params, sentences, vocab):
    """(Σ log p of every predicted word and ``</s>``, number of predictions) under the RNN model."""
    inputs, targets, mask = encode(sentences, vocab)
    V = len(vocab)
    h0 = np.zeros((len(sentences), params["W_hh"].shape[0]))
    H, _ = recurrent.rnn_forward(one_hot(inputs, V), h0, params["W_xh"], params["W_hh"], params["b"])
    loss, *_ = softmax_output(H, params["W_s"], params["b_s"], targets, mask)
    return -loss * mask.sum(), int(mask.sum())


def sample_rnn_lm(params, vocab, rng, max_words=12):
    """One sentence (list of words) drawn word by word from the model, stopping at ``</s>``."""
    index = {w: i for i, w in enumerate(vocab)}
    h = np.zeros(params["W_hh"].shape[0])
    word, words = index[BOS], []
    for _ in range(max_words + 1):
        h = np.tanh(params["W_xh"][:, word] + params["W_hh"] @ h + params["b"])
        p = losses.softmax((params["W_s"] @ h + params["b_s"])[None])[0]
        word = int(np.searchsorted(np.cumsum(p), rng.random() * p.sum()))
        word = min(word, len(vocab) - 1)
        if vocab[word] == EOS:
            break
        words.append(vocab[word])
    return words


def rnn_lm_next_word_probs(params, vocab, prefix):
    """Distribution (V,) of the model over the word that follows ``<s>`` + ``prefix``."""
    index = {w: i for i, w in enumerate(vocab)}
    h = np.zeros(params["W_hh"].shape[0])
    for word in [BOS] + list(prefix):
        h = np.tanh(params["W_xh"][:, index[word]] + params["W_hh"] @ h + params["b"])
    return losses.softmax((params["W_s"] @ h + params["b_s"])[None])[0]


def agreement_cases(sentences):
    """(prefix, right verb, wrong verb) for every sentence whose phrase noun differs in number from
    the subject: the word just before the verb then points to the wrong form."""
    cases = []
    for s in sentences:
        subject = _parse_noun_phrase(s, 0)
        number, _, i = subject
        if s[i] not in PREPOSITIONS:
            continue
        inner = _parse_noun_phrase(s, i + 1)[0]
        if inner == number:
            continue
        other = "pl" if number == "sg" else "sg"
        verb = s[-1]
        cases.append((s[:-1], verb, VERBS[other][VERBS[number].index(verb)]))
    return cases
