"""Small, deterministic data for the course: no file is downloaded, ever.

* A toy named-entity corpus for the notes' running example ("Museums in Paris
  are amazing"): sentences built from templates and word lists with a seeded
  generator, 5-word windows around every word, labels (1 when the centre word
  is a location), corrupt windows for the max-margin objective, and a vocabulary.
* 2-D non-linear classification sets: spirals, moons and circles.
"""

from dataclasses import dataclass

import numpy as np

PAD = "<pad>"
UNK = "<unk>"

LOCATIONS = (
    "paris", "london", "rome", "berlin", "madrid", "vienna", "prague", "lisbon", "dublin",
    "oslo", "cairo", "lagos", "nairobi", "tokyo", "seoul", "delhi", "lima", "quito",
    "boston", "denver", "chicago", "sydney", "perth", "auckland", "toronto", "montreal",
    "athens", "warsaw", "budapest", "helsinki", "bangkok", "hanoi", "manila", "havana",
)
THINGS = (
    "museums", "parks", "markets", "bridges", "cafes", "trains", "streets", "gardens",
    "libraries", "theatres", "beaches", "bakeries", "galleries", "concerts", "festivals",
)
PEOPLE = ("anna", "omar", "li", "maria", "kofi", "sven", "priya", "tom", "yuki", "ines")
ADJECTIVES = ("amazing", "crowded", "quiet", "beautiful", "expensive", "old", "famous", "busy")
VERBS = ("visited", "left", "loves", "toured", "photographed", "described", "remembers")
TEMPLATES = (
    "{thing} in {loc} are {adj}",
    "not all {thing} in {loc} are {adj}",
    "{person} {verb} {loc} last year",
    "{person} flew from {loc} to {loc2}",
    "the {thing} of {loc} are {adj}",
    "{person} says {thing} near {loc} are {adj}",
    "we {verb} the {thing} in {loc} twice",
    "{loc} has {adj} {thing} and {adj2} {thing2}",
    "{person} moved to {loc} in may",
    "{person} {verb} the {adj} {thing}",
    "the {thing} are {adj} and {adj2}",
    "{person} and {person2} {verb} the {thing}",
)


@dataclass
class NERWindows:
    """Windows of word indices with labels, and their vocabulary.

    windows (N, window) int, labels (N,) int in {0, 1}, sentences: the tokens,
    vocab: word -> index (index 0 is the padding word, 1 the unknown word).
    """

    windows: np.ndarray
    labels: np.ndarray
    vocab: dict
    sentences: list

    @property
    def words(self):
        """Index -> word, the inverse of ``vocab``."""
        return sorted(self.vocab, key=self.vocab.get)

    def decode(self, window):
        words = self.words
        return " ".join(words[i] for i in window)

    def config(self):
        """Plain data that rebuilds these windows with :meth:`from_config` (the arrays as they are)."""
        return {"windows": self.windows, "labels": self.labels, "vocab": self.vocab,
                "sentences": self.sentences}

    @classmethod
    def from_config(cls, cfg):
        """The windows :meth:`config` describes."""
        if not isinstance(cfg, dict) or set(cfg) != {"windows", "labels", "vocab", "sentences"}:
            raise ValueError("NERWindows config: expected the keys labels, sentences, vocab, windows")
        return cls(**cfg)


def ner_sentences(n_sentences=400, seed=0, locations=LOCATIONS):
    """``n_sentences`` lists of (word, is_location) pairs drawn from the templates."""
    rng = np.random.default_rng(seed)

    def pick(options):
        return options[rng.integers(len(options))]

    sentences = []
    for _ in range(n_sentences):
        template = pick(TEMPLATES)
        loc, loc2 = rng.choice(len(locations), size=2, replace=False)
        fills = {
            "loc": locations[loc], "loc2": locations[loc2],
            "thing": pick(THINGS), "thing2": pick(THINGS), "adj": pick(ADJECTIVES),
            "adj2": pick(ADJECTIVES), "person": pick(PEOPLE), "person2": pick(PEOPLE),
            "verb": pick(VERBS),
        }
        tagged = []
        for slot in template.split():
            word = slot.format(**fills)
            tagged.append((word, slot in ("{loc}", "{loc2}")))
        sentences.append(tagged)
    return sentences


def build_vocab(sentences):
    """word -> index over the words of ``sentences``, in order of first appearance."""
    vocab = {PAD: 0, UNK: 1}
    for sentence in sentences:
        for word, _ in sentence:
            vocab.setdefault(word, len(vocab))
    return vocab


def make_windows(sentences, vocab, window=5):
    """One window centred on every word; words outside the vocabulary map to <unk>."""
    if window % 2 != 1 or window < 1:
        raise ValueError(f"window: expected an odd positive size, got {window!r}")
    half = window // 2
    rows, labels = [], []
    for sentence in sentences:
        ids = [vocab.get(w, vocab[UNK]) for w, _ in sentence]
        padded = [vocab[PAD]] * half + ids + [vocab[PAD]] * half
        for i, (_, is_loc) in enumerate(sentence):
            rows.append(padded[i:i + window])
            labels.append(int(is_loc))
    return np.array(rows, dtype=np.int64).reshape(-1, window), np.array(labels, dtype=np.int64)


def ner_dataset(n_train=400, n_test=150, window=5, seed=0):
    """Train and held-out windows; the held-out sentences use locations unseen in training.

    Returns ``(train, test)`` as :class:`NERWindows` sharing the training vocabulary,
    so an unseen city in the test set is ``<unk>`` and must be recognised from its context.
    """
    split = len(LOCATIONS) * 3 // 4
    train_sents = ner_sentences(n_train, seed=seed, locations=LOCATIONS[:split])
    test_sents = ner_sentences(n_test, seed=seed + 1, locations=LOCATIONS[split:])
    vocab = build_vocab(train_sents)
    train = NERWindows(*make_windows(train_sents, vocab, window), vocab, train_sents)
    test = NERWindows(*make_windows(test_sents, vocab, window), vocab, test_sents)
    return train, test


def corrupt_windows(windows, vocab_size, rng, exclude=(0, 1)):
    """Copies of ``windows`` with the centre word replaced by a random other word.

    These are the "false" windows x_c of §1.4: a true window should outscore its
    corruption by the margin Δ. Padding and <unk> are never drawn.
    """
    windows = np.asarray(windows)
    if windows.ndim != 2 or windows.shape[1] % 2 != 1:
        raise ValueError(f"windows: expected shape (N, odd window), got {windows.shape}")
    allowed = np.setdiff1d(np.arange(vocab_size), np.asarray(exclude))
    centre = windows.shape[1] // 2
    corrupt = windows.copy()
    draws = allowed[rng.integers(len(allowed), size=len(windows))]
    same = draws == windows[:, centre]
    while same.any():  # the corruption must differ from the original word
        draws[same] = allowed[rng.integers(len(allowed), size=int(same.sum()))]
        same = draws == windows[:, centre]
    corrupt[:, centre] = draws
    return corrupt


# --- 2-D non-linear data -------------------------------------------------------------

def spirals(n_per_class=100, n_classes=3, noise=0.2, seed=0):
    """Interleaved spiral arms: X (n_per_class·n_classes, 2), y (same,) in [0, n_classes)."""
    rng = np.random.default_rng(seed)
    X, y = [], []
    for c in range(n_classes):
        r = np.linspace(0.0, 1.0, n_per_class)
        theta = np.linspace(c * 4.0, (c + 1) * 4.0, n_per_class) + noise * rng.standard_normal(n_per_class)
        X.append(np.column_stack([r * np.sin(theta), r * np.cos(theta)]))
        y.append(np.full(n_per_class, c))
    return np.vstack(X), np.concatenate(y)


def moons(n_samples=200, noise=0.1, seed=0):
    """Two interleaving half circles: X (n_samples, 2), y (n_samples,) in {0, 1}."""
    rng = np.random.default_rng(seed)
    n_top = n_samples // 2
    n_bottom = n_samples - n_top
    t_top = np.linspace(0, np.pi, n_top)
    t_bottom = np.linspace(0, np.pi, n_bottom)
    top = np.column_stack([np.cos(t_top), np.sin(t_top)])
    bottom = np.column_stack([1 - np.cos(t_bottom), 0.5 - np.sin(t_bottom)])
    X = np.vstack([top, bottom]) + noise * rng.standard_normal((n_samples, 2))
    y = np.concatenate([np.zeros(n_top, int), np.ones(n_bottom, int)])
    return X, y


def circles(n_samples=200, noise=0.05, factor=0.5, seed=0):
    """A disc inside a ring: X (n_samples, 2), y (n_samples,) with 1 for the inner disc."""
    if not 0 < factor < 1:
        raise ValueError(f"factor: expected 0 < factor < 1, got {factor!r}")
    rng = np.random.default_rng(seed)
    n_out = n_samples // 2
    n_in = n_samples - n_out
    t_out = np.linspace(0, 2 * np.pi, n_out, endpoint=False)
    t_in = np.linspace(0, 2 * np.pi, n_in, endpoint=False)
    outer = np.column_stack([np.cos(t_out), np.sin(t_out)])
    inner = factor * np.column_stack([np.cos(t_in), np.sin(t_in)])
    X = np.vstack([outer, inner]) + noise * rng.standard_normal((n_samples, 2))
    y = np.concatenate([np.zeros(n_out, int), np.ones(n_in, int)])
    return X, y


def split(X, y, fraction=0.7, seed=0):
    """Shuffle and split into (X_train, y_train, X_test, y_test)."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(X))
    cut = int(round(fraction * len(X)))
    tr, te = order[:cut], order[cut:]
    return X[tr], y[tr], X[te], y[te]
